namespace Coordination.Membership.Protocol;

/// <summary>
/// This member's probe of one member in one probe period (SWIM's failure detector with Lifeguard's nacks):
/// a direct ping; if no ack by <see cref="IndirectAt"/>, ping-reqs through up to k peers, each of which
/// forwards the target's ack or answers with a nack; at <see cref="End"/>, the verdict.
/// </summary>
internal sealed class ProbeRound(MemberId target, long seq, long incarnation, TimeSpan start, TimeSpan indirectAt, TimeSpan end)
{
    private int _nacksExpected;
    private int _nacks;

    public MemberId Target { get; } = target;

    public long Seq { get; } = seq;

    /// <summary>The target's incarnation when probed: a failure suspects that incarnation only (a refutation since wins).</summary>
    public long Incarnation { get; } = incarnation;

    public TimeSpan Start { get; } = start;

    public TimeSpan IndirectAt { get; } = indirectAt;

    public TimeSpan End { get; } = end;

    public bool Acked { get; private set; }

    public bool IndirectSent { get; private set; }

    /// <summary>
    /// Lifeguard's verdict on this member's own health: an ack lowers the score, a miss raises it, and raises
    /// it once more when the peers asked to probe indirectly did not even nack (the trouble may well be ours).
    /// </summary>
    public int HealthDelta => Acked ? -1 : (IndirectSent && _nacks < _nacksExpected ? 2 : 1);

    /// <summary>True once, when the direct probe has gone unanswered past <see cref="IndirectAt"/>: time to ask peers.</summary>
    public bool StartIndirect(TimeSpan now)
    {
        if (Acked || IndirectSent || now < IndirectAt)
        {
            return false;
        }

        IndirectSent = true;
        return true;
    }

    public void PingReqSent() => _nacksExpected++;

    public void Nacked() => _nacks++;

    /// <summary>Takes the first ack of this probe (direct, or forwarded by a peer); false if it was already acked.</summary>
    public bool TryAck()
    {
        if (Acked)
        {
            return false;
        }

        Acked = true;
        return true;
    }
}
