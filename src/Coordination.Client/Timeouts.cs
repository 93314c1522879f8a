namespace Coordination.Client;

/// <summary>DistributedLock's timeout rules, shared by every acquire: checked at the call, before anything is sent.</summary>
internal static class Timeouts
{
    /// <summary>
    /// Zero or more, at most <see cref="int.MaxValue"/> milliseconds (about 24.8 days), or
    /// <see cref="Timeout.InfiniteTimeSpan"/>; anything else throws <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public static TimeSpan Validate(TimeSpan timeout, string argument = "timeout")
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return timeout;
        }

        return timeout < TimeSpan.Zero || timeout.TotalMilliseconds > int.MaxValue
            ? throw new ArgumentOutOfRangeException(argument, timeout, $"A timeout must be zero to {int.MaxValue} ms, or Timeout.InfiniteTimeSpan.")
            : timeout;
    }
}
