namespace Coordination.Silo.SiloHost;

/// <summary>
/// The wall clock Orleans' activation bookkeeping runs on (its idle-activation collector, an activation's keep-alive
/// and deactivation times): the time this silo started plus the monotonic clock since, so a step of the system clock
/// never reaches it. Orleans 10 keeps collection tickets in wall-clock buckets and fails every grain call on a silo
/// whose clock went back past a bucket it had already used ("The earliest collection that can be scheduled from now
/// is for ..."), until real time catches up (found by the fault soak: clocks skewed and restored). Timers and
/// timestamps are the system's.
/// </summary>
/// <remarks>
/// Orleans also reads <see cref="DateTime.UtcNow"/> itself in places, so a system clock stepped back by more than the
/// collection age can still trip it. This clock drifts from the system's only by what NTP slews over the silo's
/// life, small beside a collection age.
/// </remarks>
internal sealed class SteadyWallClock : TimeProvider
{
    private readonly DateTimeOffset _start = System.GetUtcNow();
    private readonly long _started = System.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => _start + System.GetElapsedTime(_started);
}
