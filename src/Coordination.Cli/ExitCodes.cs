using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Coordination.Cli;

/// <summary>
/// What coord's exit status means; scripts branch on it. <c>coord lock</c> returns its command's own status
/// when the command ran to its end. The numbers follow sysexits(3) and timeout(1) where they have one.
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Any other refusal (not held, queue full, revoke refused, a value that does not exist or is at another revision…): the message says which.</summary>
    public const int Failed = 1;

    /// <summary>EX_USAGE: bad input (unknown option, invalid name or TTL); nothing was changed.</summary>
    public const int BadInput = 64;

    /// <summary>EX_UNAVAILABLE: no gateway answered, or the cluster stopped answering (a call that timed out included).</summary>
    public const int Unreachable = 69;

    /// <summary>EX_TEMPFAIL: no majority of the replicas involved; retry later.</summary>
    public const int QuorumUnavailable = 75;

    /// <summary>As timeout(1): the lock was not acquired within <c>--timeout</c>.</summary>
    public const int Timeout = 124;

    /// <summary>The lock or leadership was lost (revoked, or the session's lease ran out) and the command was stopped.</summary>
    public const int Lost = 125;

    /// <summary>As a shell: the command to run under the lock was not found or could not be started.</summary>
    public const int CommandNotFound = 127;

    /// <summary>128 + SIGINT: interrupted before the lock was acquired.</summary>
    public const int Interrupted = 130;
}

/// <summary>A failure coord reports with its own kind, exit code and one-line message.</summary>
internal sealed class CliException(string kind, int exitCode, string message) : Exception(message)
{
    public string Kind { get; } = kind;

    public int ExitCode { get; } = exitCode;

    public static CliException BadInput(string message) => new("bad-input", ExitCodes.BadInput, message);

    public static CliException Unreachable(string message) => new("unreachable", ExitCodes.Unreachable, message);

    /// <summary>The kind, exit code and message of any exception a command let out.</summary>
    public static CliException From(Exception ex) => ex switch
    {
        CliException cli => cli,
        AggregateException { InnerExceptions.Count: 1 } one => From(one.InnerException!),
        ArgumentException or OptionsValidationException => new("bad-input", ExitCodes.BadInput, ex.Message),
        QuorumUnavailableException or ReplicasLostException => new("quorum-unavailable", ExitCodes.QuorumUnavailable, ex.Message),
        ClusterUnavailableException or SiloUnavailableException or Orleans.Runtime.Messaging.ConnectionFailedException or GatewayTooBusyException or SocketException
            => new("unreachable", ExitCodes.Unreachable, $"The cluster is unreachable: {ex.Message}"),
        TimeoutException => new("unreachable", ExitCodes.Unreachable, $"The cluster did not answer in time; the outcome is unknown: {ex.Message}"),
        SessionExpiredException => new("lost", ExitCodes.Lost, ex.Message),
        OrleansMessageRejectionException => new("unreachable", ExitCodes.Unreachable, $"The cluster is unreachable: {ex.Message}"),
        _ => new(ex is CoordinationException ? ex.GetType().Name.Replace("Exception", string.Empty, StringComparison.Ordinal) : "error", ExitCodes.Failed, ex.Message),
    };
}
