namespace Coordination.Membership.Protocol;

/// <summary>
/// Lifeguard's local-health multiplier (memberlist's awareness): a score from 0 (healthy) up to
/// <see cref="ProbeOptions.MaxLocalHealth"/>, raised by signs that this member itself is the slow one (a missed
/// ack, peers that did not even nack, a suspicion of itself to refute, a stall of its host) and lowered by each
/// acked probe. The member stretches its own probe intervals and timeouts by (score + 1), so a struggling
/// prober slows down instead of accusing healthy peers.
/// </summary>
internal sealed class LocalHealth(int max)
{
    /// <summary>0 is healthy.</summary>
    public int Score { get; private set; }

    /// <summary>Moves the score by <paramref name="delta"/>, kept within 0 and the maximum.</summary>
    public void Apply(int delta) => Score = Math.Clamp(Score + delta, 0, max);

    /// <summary>An interval or timeout of this member, stretched by its health.</summary>
    public TimeSpan Scale(TimeSpan value) => ProbeMath.Scaled(value, Score);
}
