namespace Coordination.Grains.Leases;

/// <summary>
/// The input rules of lease requests (acquires, campaigns, releases, withdrawals, revokes), checked at a
/// grain's entry points before anything is read or written. Each failure is a typed error that names the
/// argument and the rule, so a client can tell its own mistake from the service's state.
/// </summary>
internal static class RequestRules
{
    /// <summary>The rules every acquire of a lease follows, whatever its kind.</summary>
    public static void ValidateAcquire(string sessionId, Guid requestId, long sequence, long settledThrough, AcquireMode mode, TimeSpan maxWait, string? owner)
    {
        ValidateSession(sessionId);
        ValidateRequestId(requestId);
        ValidateSequence(sequence, settledThrough);
        ValidateMode(mode);
        ValidateWait(maxWait);
        ValidateOwner(owner);
    }

    public static void ValidateSession(string? sessionId)
    {
        if (string.IsNullOrEmpty(sessionId) || sessionId.Length > 64 || !Printable(sessionId))
        {
            throw new InvalidNameException("sessionId", "a session id is 1 to 64 printable characters without spaces, as returned when the session was opened");
        }
    }

    public static void ValidateRequestId(Guid requestId, string argument = "requestId")
    {
        if (requestId == Guid.Empty)
        {
            throw new CoordinationArgumentException(argument, "a request id must be a fresh, non-empty GUID made by the client");
        }
    }

    /// <summary>A request's number in its session and the client's settled-through mark (see <see cref="SessionAttachments{TQueue}"/>).</summary>
    public static void ValidateSequence(long sequence, long settledThrough)
    {
        if (sequence < 1)
        {
            throw new CoordinationArgumentException("sequence", $"a request carries its number in its session, 1 or more (got {sequence})");
        }

        if (settledThrough < 0)
        {
            throw new CoordinationArgumentException("settledThrough", $"a settled-through mark is 0 or more (got {settledThrough})");
        }
    }

    public static void ValidateMode(AcquireMode mode)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new CoordinationArgumentException("mode", $"unknown acquire mode {(int)mode}");
        }
    }

    public static void ValidateWait(TimeSpan maxWait)
    {
        if (maxWait < TimeSpan.Zero)
        {
            throw new CoordinationArgumentException("maxWait", $"a wait must not be negative (got {maxWait})");
        }
    }

    public static void ValidateLockDelay(TimeSpan lockDelay, TimeSpan max)
    {
        if (lockDelay < TimeSpan.Zero || lockDelay > max)
        {
            throw new CoordinationArgumentException("lockDelay", $"a lock-delay must be between 0 and {max} (got {lockDelay})");
        }
    }

    public static void ValidateOwner(string? owner)
    {
        if (owner is not null && Names.Check(owner) is { } problem)
        {
            throw new CoordinationArgumentException("owner", problem.Replace("a name", "owner metadata", StringComparison.Ordinal));
        }
    }

    public static void ValidateToken(long token)
    {
        if (token <= 0)
        {
            throw new CoordinationArgumentException("fencingToken", $"a fencing token is positive (got {token})");
        }
    }

    public static void ValidateRevokeReason(string? reason)
    {
        if (string.IsNullOrWhiteSpace(reason) || System.Text.Encoding.UTF8.GetByteCount(reason) > Names.MaxBytes)
        {
            throw new CoordinationArgumentException("reason", $"a revoke needs a reason of 1 to {Names.MaxBytes} bytes for the holder and the audit");
        }
    }

    /// <summary>No control characters and no white space (a loop: every call checks its session id, and LINQ over a string boxes its enumerator).</summary>
    private static bool Printable(string value)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        return true;
    }
}
