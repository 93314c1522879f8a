namespace Coordination;

/// <summary>How a <see cref="Backoff"/> spreads its delays, so that callers that failed together do not retry together.</summary>
internal enum BackoffJitter
{
    /// <summary>Exactly the grown delay.</summary>
    None,

    /// <summary>
    /// Uniform in [0, delay): "full jitter", which spreads dueling callers over the whole interval (AWS
    /// Architecture Blog, "Exponential Backoff and Jitter"). One <see cref="Random.NextDouble"/> per delay.
    /// </summary>
    Full,

    /// <summary>
    /// The delay plus a uniform whole number of milliseconds in [0, delay): never shorter than the grown delay,
    /// at most about twice it. One <see cref="Random.Next(int, int)"/> per delay.
    /// </summary>
    Added,
}

/// <summary>
/// The growing pause between the attempts of a retry loop: every retry loop in src/ whose delay grows takes it from here.
/// Delay n (counted from 0) is <c>initial × factor^n</c>: the first is always <c>initial</c>, every later
/// one is capped at <c>maximum</c> (the cap bounds the growth), then spread by its <see cref="BackoffJitter"/>
/// with the injected <see cref="Random"/>, one draw per delay and none otherwise, so a seeded simulation
/// replays the same delays. Waits go through a <see cref="TimeProvider"/>. Not thread-safe: one per loop.
/// </summary>
internal sealed class Backoff
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _maximum;
    private readonly double _factor;
    private readonly BackoffJitter _jitter;
    private readonly Random? _random;

    /// <param name="initial">The first delay, zero or more.</param>
    /// <param name="maximum">The cap on every delay after the first, zero or more (before jitter).</param>
    /// <param name="factor">Growth per attempt, 1 or more (1: a constant delay).</param>
    /// <param name="jitter">How each delay is spread; anything but <see cref="BackoffJitter.None"/> needs <paramref name="random"/>.</param>
    public Backoff(TimeSpan initial, TimeSpan maximum, double factor = 2, BackoffJitter jitter = BackoffJitter.None, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initial, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximum, TimeSpan.Zero);
        if (!(factor >= 1) || double.IsInfinity(factor))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, "A backoff's factor must be a finite number of 1 or more.");
        }

        if (jitter != BackoffJitter.None && random is null)
        {
            throw new ArgumentNullException(nameof(random), $"A backoff with {jitter} jitter needs a Random to draw from.");
        }

        _initial = initial;
        _maximum = maximum;
        _factor = factor;
        _jitter = jitter;
        _random = random;
    }

    /// <summary>Delays handed out by <see cref="NextDelay"/> so far.</summary>
    public int Attempts { get; private set; }

    /// <summary>Delay <paramref name="attempt"/> (from 0) before jitter: <c>initial</c>, then <c>min(initial × factor^attempt, maximum)</c>.</summary>
    public TimeSpan Nominal(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(attempt);
        if (attempt == 0 || _initial == TimeSpan.Zero)
        {
            return _initial;
        }

        // In doubles so that a long run saturates at the cap instead of overflowing.
        var ticks = _initial.Ticks * Math.Pow(_factor, attempt);
        return ticks >= _maximum.Ticks ? _maximum : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>Delay <paramref name="attempt"/> with its jitter, for a loop that counts its attempts itself (one draw, if any).</summary>
    public TimeSpan DelayFor(int attempt)
    {
        var delay = Nominal(attempt);
        return _jitter switch
        {
            BackoffJitter.Full => TimeSpan.FromMilliseconds(_random!.NextDouble() * delay.TotalMilliseconds),
            BackoffJitter.Added => delay + TimeSpan.FromMilliseconds(_random!.Next(0, (int)Math.Max(1, delay.TotalMilliseconds))),
            _ => delay,
        };
    }

    /// <summary>The next delay, with its jitter; the one after it grows.</summary>
    public TimeSpan NextDelay() => DelayFor(Attempts++);

    /// <summary>Waits out <see cref="NextDelay"/> on <paramref name="time"/>.</summary>
    public Task DelayAsync(TimeProvider time, CancellationToken cancellationToken = default) =>
        Task.Delay(NextDelay(), time, cancellationToken);
}
