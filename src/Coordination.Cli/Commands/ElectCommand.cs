using System.CommandLine;

namespace Coordination.Cli.Commands;

/// <summary>
/// <c>coord elect NAME VALUE</c> (etcdctl elect): campaigns, prints the term when elected and leads until Ctrl+C
/// (then resigns) or until leadership is lost (<see cref="ExitCodes.Lost"/>). <c>coord elect NAME --listen</c>:
/// prints the leader, then every change in revision order.
/// </summary>
internal static class ElectCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The election's name." };
        var value = new Argument<string?>("value") { Description = "What this candidate proclaims once elected.", Arity = ArgumentArity.ZeroOrOne };
        var listen = new Option<bool>("--listen", "-l") { Description = "Do not campaign: print the leader and every change." };
        var ttl = new Option<TimeSpan?>("--ttl") { Description = "The session's lease: how soon leadership passes on if coord stops answering. Default 15s.", CustomParser = Durations.Parse };

        var elect = new Command("elect", "Campaign in an election and lead until Ctrl+C, or --listen to its leaders.") { name, value, listen, ttl };
        elect.Validators.Add(r =>
        {
            if (r.GetValue(listen) == (r.GetValue(value) is not null))
            {
                r.AddError("Give either a VALUE to campaign with, or --listen.");
            }
        });
        elect.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, result.GetValue(ttl), (cluster, output) =>
            result.GetValue(listen)
                ? ListenAsync(cluster, output, result.GetValue(name)!, cancellationToken)
                : CampaignAsync(cluster, output, result.GetValue(name)!, result.GetValue(value)!, result.GetValue(ttl), cancellationToken), cancellationToken));
        return elect;
    }

    private static async Task<int> CampaignAsync(ClusterConnection cluster, Output output, string name, string value, TimeSpan? ttl, CancellationToken cancellationToken)
    {
        await using var session = await cluster.Coordination.OpenSessionAsync(ttl, cancellationToken);
        await using var leadership = await output.WaitingAsync($"Campaigning in '{name}'…", () => session.CreateElection(name).CampaignAsync(value, cancellationToken));
        output.Write(
            new { election = name, term = leadership.Term, value, session = session.Tag },
            () => $"{name}: elected with term {leadership.Term} (value '{value}', session {session.Tag}); Ctrl+C resigns");

        using var either = CancellationTokenSource.CreateLinkedTokenSource(leadership.LeadershipLostToken, cancellationToken);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, either.Token);
        }
        catch (OperationCanceledException)
        {
            // Interrupted (resign below) or lost.
        }

        if (leadership.LeadershipLostToken.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var why = leadership.RevokedReason is { } reason ? $"revoked: {reason}" : session.LostReason ?? "its session was lost";
            output.Fail(new CliException("lost", ExitCodes.Lost, $"Leadership of '{name}' was lost ({why})."));
            return ExitCodes.Lost;
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> ListenAsync(ClusterConnection cluster, Output output, string name, CancellationToken cancellationToken)
    {
        var election = cluster.Coordination.CreateElection(name);
        var state = await election.GetStateAsync(cancellationToken);
        Print(output, new ElectionEvent(state.Revision, state.Leader is null ? ElectionEventKind.Vacant : ElectionEventKind.Elected, state.Leader));
        try
        {
            await foreach (var e in election.ObserveAsync(state.Revision, cancellationToken))
            {
                Print(output, e);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C is how listening ends.
        }

        return ExitCodes.Ok;
    }

    private static void Print(Output output, ElectionEvent e) =>
        output.Write(e, () => e.Leader is { } leader
            ? $"revision {e.Revision}: {e.Kind.ToString().ToLowerInvariant()}: '{leader.Value}' leads with term {leader.Term} (session {leader.SessionTag}, {leader.Owner})"
            : $"revision {e.Revision}: {e.Kind.ToString().ToLowerInvariant()}: nobody leads");
}
