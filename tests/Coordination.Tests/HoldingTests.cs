using System.Collections.Immutable;
using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordination.Tests;

/// <summary>Holdings are typed values in a replicated record; the register keys they lead to never change (a key's hash picks its partition).</summary>
public sealed class HoldingTests
{
    [Theory]
    [InlineData(HoldingKind.Lock, "orders/42", "l/orders/42")]
    [InlineData(HoldingKind.Election, "orders/42", "e/orders/42")]
    [InlineData(HoldingKind.Lock, "ünïcødé/🔒", "l/ünïcødé/🔒")]
    [InlineData(HoldingKind.Semaphore, "orders/42", "m/orders/42")]
    [InlineData(HoldingKind.ReaderWriterLock, "orders/42", "w/orders/42")]
    [InlineData(HoldingKind.Value, "services/billing", "v/services/billing")]
    internal void A_holding_names_the_register_key_it_always_had(HoldingKind kind, string name, string key)
    {
        var holding = new Holding(kind, name);
        Assert.Equal(key, holding.RegisterKey);
        Assert.Equal(name, RegisterKeys.NameOf(key));
        Assert.Equal(holding, RegisterKeys.HoldingOf(key));
    }

    [Fact]
    public void A_session_register_key_is_its_id_behind_s_slash()
    {
        Assert.Equal("s/abc", RegisterKeys.Session("abc"));
        Assert.Equal("abc", RegisterKeys.NameOf("s/abc"));
        Assert.Throws<ArgumentException>(() => RegisterKeys.NameOf("x/abc"));
        Assert.Null(RegisterKeys.HoldingOf("s/abc"));
    }

    [Fact]
    public void A_lock_and_an_election_of_one_name_are_two_holdings_in_a_stable_order()
    {
        var set = ImmutableSortedSet.Create(Holding.Lock("b"), Holding.Election("b"), Holding.Lock("B"), Holding.Lock("a"));
        Assert.Equal([Holding.Lock("B"), Holding.Lock("a"), Holding.Lock("b"), Holding.Election("b")], set);
        Assert.Same(set, set.Add(Holding.Lock("a")));
    }

    [Fact]
    public void A_session_shard_with_holdings_survives_the_wire_between_silos()
    {
        using var services = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(SessionShard).Assembly).AddAssembly(typeof(SessionNotice).Assembly))
            .BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var shard = SessionShards.Attach(SessionShards.Attach(null, "s", Holding.Election("x"), 1, 0), "s", Holding.Lock("x"), 2, 0);

        var copy = serializer.Deserialize<SessionShard>(serializer.SerializeToArray(shard))!;

        Assert.Equal(shard.Attached, copy.Attached);
        Assert.Same(copy.Attached, SessionShards.Attach(copy, "s", Holding.Lock("x"), 2, 0).Attached);
    }
}
