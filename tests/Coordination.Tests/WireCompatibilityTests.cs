using Coordination.Grains.Elections;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Grains.Values;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordination.Tests;

/// <summary>
/// A silo reads what a silo of the previous version writes (a rolling upgrade has both in one cluster). Orleans'
/// serializer writes an object it has already written in the same message as a reference to it, and a reader
/// resolves that reference only for types it tracks: a type marked <c>[SuppressReferenceTracking]</c> must never be
/// one a writer puts twice into one message. The bytes below are <see cref="WireSamples.Batch"/> as the build before
/// that marking (30300be) serialized it.
/// </summary>
public sealed class WireCompatibilityTests
{
    private const string PreviousBatch =
        "IAAJIQAFARFBFWUvZWxlY3Rpb24JAwUhACEBCejgMQHqFcKpKWNvb3JkLkVsZWN0aW9uUmVjb3JkIAAdIUATc2Vzc2lvbi0xQSE+" +
        "LRxvAAAAQIAAAAAAAAABAR1BD293bmVyLWGBAAAAAAAAAACBAOH1BQAAAABBGWxlYWRlci12YWx1ZQENCQMBAQHo4CEg4OAhIODg" +
        "wQEBAcEB6OABFSEgAAMhABUJAwHBHejg4ODo4CEAJQEJ6OABAejgIAAFARFBFWwvb3JkZXJzLzEJAwUhACEBCejgMQEQkc7dIWNv" +
        "b3JkLkxvY2tSZWNvcmQAMSFAE3Nlc3Npb24tMkEhPi0cbwAAAECAAAAAAAAAAgExwQGBAAAAAAAAAACBgNHwCAAAAADBAQElCQMB" +
        "ARHo4CEgAAMhQBNzZXNzaW9uLTNBIT4tHG8AAABAgAAAAAAAAANBDXdhaXRlcoEAAAAAAAAAAIGA0fAIAAAAAMEBAQkJAwEBAejg" +
        "4OAhIAADIcBvQSE+LRxvAAAAQIAAAAAAAAAEAS0JAwEBIQED6ODg4CGAgJaYAAAAAAABKejgAQ0hIAADIcBvAREBEQEhgYDR8AgA" +
        "AAAAAQHo4ODg6OAhACUBCejgAQHo4CAABQERQQt2L29uZQkDBSEAIQEJ6OAxAbos0yojY29vcmQuVmFsdWVSZWNvcmRAB29uZQEJ" +
        "ISAAAyEACQkDAcHnQSE+LRxvAAAAQIAAAAAAAAAB6ODg4CEAAcEBwTPBN8EBAQHBAejg6OAhACUBCejgAQHo4CAABQERQQt2L3R3" +
        "bwkDBSEAIQEJ6OA5B0AHdHdvAQ0hIAADIQANCQMBwUoCQSE+LRxvAAAAQIAAAAAAAAAC6ODg4MH76OAhACUBCejgAQHo4OA=";

    [Fact]
    public void A_batch_written_by_the_previous_version_reads_with_its_shared_instances()
    {
        var serializer = Serializer();

        var batch = serializer.Deserialize<ReplicaRequest[]>(Convert.FromBase64String(PreviousBatch))!;

        AssertSameAsWritten(WireSamples.Batch(), batch);
        var election = (ElectionRecord)batch[0].Value!;
        Assert.Same(election.Queue.Holder, election.History[^1].Leader);
        Assert.Same(((ValueRecord)batch[2].Value!).Binding, ((ValueRecord)batch[3].Value!).Binding);
    }

    [Fact]
    public void A_batch_this_version_writes_reads_back_the_same()
    {
        var serializer = Serializer();
        var written = WireSamples.Batch();

        AssertSameAsWritten(written, serializer.Deserialize<ReplicaRequest[]>(serializer.SerializeToArray(written))!);
    }

    private static Serializer Serializer() =>
        new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(SessionShard).Assembly).AddAssembly(typeof(ReplicaRequest).Assembly))
            .BuildServiceProvider()
            .GetRequiredService<Serializer>();

    private static void AssertSameAsWritten(ReplicaRequest[] expected, ReplicaRequest[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i] with { Value = null }, actual[i] with { Value = null });
        }

        var (election, read) = ((ElectionRecord)expected[0].Value!, (ElectionRecord)actual[0].Value!);
        Assert.Equal((election.Revision, election.Queue.Holder, election.Queue.LastToken), (read.Revision, read.Queue.Holder, read.Queue.LastToken));
        Assert.Equal(election.History, read.History);

        var (held, lockRead) = ((LockRecord)expected[1].Value!, (LockRecord)actual[1].Value!);
        Assert.Equal((held.LastToken, held.Holder, held.Delay, held.ForgottenBelow), (lockRead.LastToken, lockRead.Holder, lockRead.Delay, lockRead.ForgottenBelow));
        Assert.Equal(held.Waiters, lockRead.Waiters);
        Assert.Equal(held.Finished, lockRead.Finished);
        Assert.Equal(held.Covers, lockRead.Covers);

        foreach (var i in new[] { 2, 3 })
        {
            var (value, valueRead) = ((ValueRecord)expected[i].Value!, (ValueRecord)actual[i].Value!);
            Assert.Equal((value.Value, value.Revision), (valueRead.Value, valueRead.Revision));
            Assert.Equal(value.History, valueRead.History);
            Assert.True(valueRead.Binding.IsEmpty);
        }
    }
}
