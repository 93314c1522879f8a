namespace Coordination.Client;

/// <summary>
/// The client's broken-on-purpose variants, for test controls that must be caught: the one seam through which
/// they enter this assembly. Only <see cref="CoordinationClient"/>'s internal constructor takes one, so no
/// configuration can turn a variant on; everything else gets <see cref="None"/> and runs the production path,
/// which does not mention the variants.
/// </summary>
internal sealed class ClientFaults
{
    /// <summary>No variant: the production client.</summary>
    public static ClientFaults None { get; } = new();

    /// <summary>
    /// BROKEN ON PURPOSE: the client deadline counts from when a keepalive's reply arrived instead of when it was
    /// sent, so a slow reply pushes it past the server's lease (the control in <c>SessionClientTests</c>).
    /// </summary>
    public bool DeadlineFromReceipt { get; init; }

    /// <summary>The session's deadline: the rule of <see cref="SessionDeadline"/>, or the variant that breaks it.</summary>
    internal SessionDeadline NewDeadline(ClockReading opened, TimeSpan ttl, CoordinationClientOptions options, TimeProvider time, CancellationToken lost, Action passed) =>
        DeadlineFromReceipt
            ? new ReceiptDeadline(opened, ttl, options, time, lost, passed)
            : new SessionDeadline(opened, ttl, options, time, lost, passed);

    private sealed class ReceiptDeadline(ClockReading opened, TimeSpan ttl, CoordinationClientOptions options, TimeProvider time, CancellationToken lost, Action passed)
        : SessionDeadline(opened, ttl, options, time, lost, passed)
    {
        public override void Acknowledged(ClockReading sent) => base.Acknowledged(ClockReading.Now(Time));
    }
}
