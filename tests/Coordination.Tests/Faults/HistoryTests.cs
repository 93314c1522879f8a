using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>Recording, pairing and serialising histories, and the fenced resource's token rule.</summary>
public sealed class HistoryTests
{
    private static HistoryRecorder Recorder()
    {
        long now = 0;
        return new HistoryRecorder(() => now++);
    }

    [Fact]
    public void A_history_survives_a_json_round_trip()
    {
        var recorder = Recorder();
        recorder.Invoke(1, "acquire", "L").Ok(7);
        recorder.Invoke(2, "write", "set", 3).Fail("token 6 is below 7");
        recorder.Invoke(3, "cas", "r", 1, 2).Info("timed out");
        recorder.Record(1, "lost", "L", 7, null);
        recorder.Invoke(4, "read", "r");
        var history = recorder.Snapshot();

        var json = history.ToJson();
        var back = History.FromJson(json);

        Assert.Contains("\"Info\"", json);
        Assert.Equal(history.Ops, back.Ops);
        Assert.Equal(history.Operations(), back.Operations());
        Assert.Equal(["L", "set", "r"], back.Keys);
    }

    [Fact]
    public void Operations_pair_invocations_with_completions_and_keep_instant_events_apart()
    {
        var recorder = Recorder();
        var acquire = recorder.Invoke(1, "acquire", "L");
        recorder.Record(1, "lost", "L", 5, null);
        acquire.Ok(8);
        recorder.Invoke(2, "release", "L", 8);

        var ops = recorder.Snapshot().Operations();

        Assert.Equal(3, ops.Count);
        Assert.Equal(new Operation(1, "acquire", "L", null, null, 8, OpType.Ok, 0, 2, null), ops[0]);
        Assert.Equal(new Operation(1, "lost", "L", 5, null, null, OpType.Ok, 1, 1, null), ops[1]);
        Assert.Equal(new Operation(2, "release", "L", 8, null, null, OpType.Info, 3, long.MaxValue, null), ops[2]);
    }

    [Fact]
    public void A_process_with_an_outstanding_operation_cannot_invoke_another()
    {
        var recorder = Recorder();
        recorder.Invoke(1, "acquire", "L");
        Assert.Throws<InvalidOperationException>(() => recorder.Invoke(1, "release", "L", 1));
    }

    [Fact]
    public void A_process_whose_operation_ended_in_info_is_retired()
    {
        var recorder = Recorder();
        recorder.Invoke(1, "acquire", "L").Info("timed out");
        Assert.Throws<InvalidOperationException>(() => recorder.Invoke(1, "acquire", "L"));
    }

    [Fact]
    public void An_operation_completes_once()
    {
        var recorder = Recorder();
        var op = recorder.Invoke(1, "acquire", "L");
        op.Ok(1);
        Assert.Throws<InvalidOperationException>(() => op.Fail("again"));
    }

    [Fact]
    public void The_fenced_resource_refuses_a_lower_token_and_accepts_the_same_one()
    {
        var resource = new FencedResource();
        Assert.True(resource.TryWrite(5, [1]));
        Assert.True(resource.TryRead(5, out var items));
        Assert.Equal([1], items);
        Assert.False(resource.TryWrite(4, [1, 2]));
        Assert.True(resource.TryWrite(6, [1, 3]));
        Assert.Equal([1, 3], resource.Items);
        Assert.Equal(3L, resource.Accepted);
        Assert.Equal(1L, resource.Rejected);
    }
}
