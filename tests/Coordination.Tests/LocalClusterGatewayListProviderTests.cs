using Coordination.Client;

namespace Coordination.Tests;

/// <summary>
/// The local cluster's gateway list (<c>UseCoordinationLocalCluster</c>): a silo that misses one poll keeps its
/// gateway (dropping it closes the client's connection and loses the replies on their way through it, and with one
/// bucket that connection carries all of a process's calls); one that misses two in a row is dropped, and one that
/// a silo holds dead, or that no longer calls itself active, is dropped at once.
/// </summary>
public sealed class LocalClusterGatewayListProviderTests
{
    private static readonly (int GatewayPort, int HealthPort)[] Silos = [(30000, 8091), (30001, 8092), (30002, 8093)];

    private readonly Dictionary<int, OrleansMembershipView?> _answers = [];

    public LocalClusterGatewayListProviderTests()
    {
        for (var i = 0; i < Silos.Length; i++)
        {
            _answers[Silos[i].HealthPort] = View(i);
        }
    }

    [Fact]
    public async Task A_silo_that_misses_one_poll_keeps_its_gateway_and_loses_it_at_the_second()
    {
        var provider = Provider();
        await ExpectListedAsync(provider, 30000, 30001, 30002);

        _answers[8092] = null;
        await ExpectListedAsync(provider, 30000, 30001, 30002);
        await ExpectListedAsync(provider, 30000, 30002);
        await ExpectListedAsync(provider, 30000, 30002);

        _answers[8092] = View(1);
        await ExpectListedAsync(provider, 30000, 30001, 30002);
    }

    [Fact]
    public async Task An_answer_between_two_misses_starts_the_count_again()
    {
        var provider = Provider();
        await PollAsync(provider);

        _answers[8092] = null;
        await PollAsync(provider);
        _answers[8092] = View(1);
        await PollAsync(provider);
        _answers[8092] = null;
        await ExpectListedAsync(provider, 30000, 30001, 30002);
    }

    [Fact]
    public async Task A_silo_another_silo_holds_dead_loses_its_gateway_at_once_answering_or_not()
    {
        var provider = Provider();
        await PollAsync(provider);

        // Silo 1 does not answer, and silo 0 has seen it declared dead.
        _answers[8092] = null;
        _answers[8091] = View(0, dead: 1);
        await ExpectListedAsync(provider, 30000, 30002);

        // Still answering (it has not learned it yet), and held dead by another.
        _answers[8092] = View(1);
        await ExpectListedAsync(provider, 30000, 30002);
    }

    [Fact]
    public async Task A_silo_that_is_not_active_loses_its_gateway_at_once()
    {
        var provider = Provider();
        await PollAsync(provider);

        _answers[8093] = View(2, selfStatus: "ShuttingDown");
        await ExpectListedAsync(provider, 30000, 30001);
    }

    [Fact]
    public async Task A_silo_that_never_answered_is_not_listed_and_with_none_answering_all_are_offered()
    {
        _answers[8093] = null;
        var provider = Provider();
        await ExpectListedAsync(provider, 30000, 30001);

        _answers[8091] = null;
        _answers[8092] = null;
        await PollAsync(provider);
        await ExpectListedAsync(provider, 30000, 30001, 30002);
    }

    private LocalClusterGatewayListProvider Provider() => new(Silos, port => Task.FromResult(_answers[port]));

    private static async Task<int[]> PollAsync(LocalClusterGatewayListProvider provider) =>
        [.. (await provider.GetGateways()).Select(u => u.Port).Order()];

    private static async Task ExpectListedAsync(LocalClusterGatewayListProvider provider, params int[] gateways) =>
        Assert.Equal(gateways, await PollAsync(provider));

    private static string Address(int i) => $"127.0.0.1:{11111 + i}@100";

    private static OrleansMembershipView View(int self, int? dead = null, string selfStatus = "Active") =>
        new(Address(self), [.. Enumerable.Range(0, Silos.Length).Select(i => new OrleansMemberStatus(Address(i), i == self ? selfStatus : i == dead ? "Dead" : "Active"))]);
}
