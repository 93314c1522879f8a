namespace Coordination;

/// <summary>A countdown latch as read: its initial count and what is left.</summary>
/// <param name="Count">What is left to count down; 0 once released.</param>
[GenerateSerializer, Immutable, Alias("coord.LatchState")]
public sealed record LatchState(string Name, int InitialCount, int Count)
{
    /// <summary>True once the count reached zero.</summary>
    public bool IsReleased => Count == 0;
}

/// <summary>
/// A countdown latch (Java's CountDownLatch, Curator's and Hazelcast's): counted down from a fixed initial count,
/// waited on until zero. The initial count is fixed at first use and checked at every later use. A released
/// latch stays released while it is used, and for a retention after its last use; then a next use starts anew.
/// </summary>
[Alias("coord.ILatchGrain")]
public interface ILatchGrain : IGrainWithStringKey
{
    /// <summary>Counts down once for <paramref name="requestId"/> (a retry counts once); <see cref="LatchMisuseException"/> below zero or on another initial count.</summary>
    /// <param name="requestId">Made by the caller, unique per count-down; a retry reuses it.</param>
    /// <param name="initialCount">The count every user of the latch names.</param>
    /// <param name="retriedSince">
    /// Null on a first attempt; on a retry, how many count-downs the caller had seen done before its first attempt
    /// (0 when none): a count-down the latch can no longer tell about fails with <see cref="OutcomeUnknownException"/>.
    /// </param>
    [Alias("count-down")]
    Task<LatchState> CountDown(Guid requestId, int initialCount, long? retriedSince = null);

    /// <summary>The latch, once it is zero or after at most <paramref name="maxWait"/> (parked on the silo).</summary>
    [Alias("wait")]
    Task<LatchState> Wait(int initialCount, TimeSpan maxWait);
}

/// <summary>A latch used against its rules: counted down below zero, or used with another initial count than it was created with. Nothing was changed.</summary>
[GenerateSerializer]
public sealed class LatchMisuseException : CoordinationException
{
    public LatchMisuseException(string latch, string detail)
        : base($"Latch '{latch}': {detail}. Nothing was changed.")
    {
        Latch = latch;
    }

    [Id(0)] public string Latch { get; }
}
