using System.Diagnostics.Metrics;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Counts the Orleans messages this silo sends and receives on its connections, split into silo↔silo and
/// gateway↔client, so a benchmark can divide the messages of a run by its operations. Orleans records one
/// measurement of its message-size histograms (meter "Microsoft.Orleans") per message written to or read
/// from a connection, tagged with the connection's direction; messages between grains of one silo never
/// reach a connection and are not counted. Each silo↔silo message is counted by both ends (sent by one,
/// received by the other); each client message once, by the gateway silo. Frames written on direct replica
/// connections (a batch, or the replies to one) count as silo↔silo messages sent; frames on client lane connections
/// (a lock call or a ping read, a reply or a ping's answer written) as client messages received and sent.
/// </summary>
internal sealed class OrleansMessageCounts : IDisposable
{
    private const string OrleansMeter = "Microsoft.Orleans";
    private const string SentInstrument = "orleans-messaging-sent-messages-size";
    private const string ReceivedInstrument = "orleans-messaging-received-messages-size";
    private const string DirectionTag = "ConnectionDirection";
    private const string SiloToSilo = "SiloToSilo";
    private const string GatewayToClient = "GatewayToClient";
    private const string ReplicationMeter = Coordination.Replication.Protocol.ReplicationMetrics.MeterName;
    private const string DirectFramesInstrument = "coordination.replica.direct.frames";
    private const string GrainsMeter = Coordination.Grains.Locks.LockMetrics.MeterName;
    private const string LaneReceivedInstrument = "coordination.lane.frames.received";
    private const string LaneSentInstrument = "coordination.lane.frames.sent";

    private readonly MeterListener _listener = new();
    private long _siloSent;
    private long _siloReceived;
    private long _clientSent;
    private long _clientReceived;

    public OrleansMessageCounts()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if ((instrument.Meter.Name == OrleansMeter && instrument.Name is SentInstrument or ReceivedInstrument)
                || (instrument.Meter.Name == ReplicationMeter && instrument.Name == DirectFramesInstrument)
                || (instrument.Meter.Name == GrainsMeter && instrument.Name is LaneReceivedInstrument or LaneSentInstrument))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, _, tags, _) => Count(instrument.Name == SentInstrument, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, frames, _, _) =>
        {
            switch (instrument.Name)
            {
                case LaneReceivedInstrument:
                    Interlocked.Add(ref _clientReceived, frames);
                    break;
                case LaneSentInstrument:
                    Interlocked.Add(ref _clientSent, frames);
                    break;
                default:
                    Interlocked.Add(ref _siloSent, frames);
                    break;
            }
        });
        _listener.Start();
    }

    /// <summary>Totals since start or the last <see cref="Reset"/>.</summary>
    public object Report() => new
    {
        siloToSiloSent = Interlocked.Read(ref _siloSent),
        siloToSiloReceived = Interlocked.Read(ref _siloReceived),
        toClients = Interlocked.Read(ref _clientSent),
        fromClients = Interlocked.Read(ref _clientReceived),
    };

    public void Reset()
    {
        Interlocked.Exchange(ref _siloSent, 0);
        Interlocked.Exchange(ref _siloReceived, 0);
        Interlocked.Exchange(ref _clientSent, 0);
        Interlocked.Exchange(ref _clientReceived, 0);
    }

    public void Dispose() => _listener.Dispose();

    private void Count(bool sent, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key != DirectionTag)
            {
                continue;
            }

            switch (tag.Value as string)
            {
                case SiloToSilo:
                    Interlocked.Increment(ref sent ? ref _siloSent : ref _siloReceived);
                    break;
                case GatewayToClient:
                    Interlocked.Increment(ref sent ? ref _clientSent : ref _clientReceived);
                    break;
            }

            return;
        }
    }
}
