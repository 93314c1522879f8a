using System.Collections.Concurrent;
using System.Net;
using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Orleans.Serialization;

namespace Coordination.Replication.Direct;

/// <summary>
/// The sending end of the direct replica transport: one connection to each silo this one sends replica batches
/// to. A silo's port is learnt by asking it once through Orleans; until an answer says which (or when it says
/// none), <see cref="TrySend"/> declines and the caller sends through Orleans. A connection that fails fails its
/// waiting batches (lost messages, as the protocol allows) and makes the port be asked again a moment later, so a
/// silo that stopped listening is reached through Orleans. A link unused for <see cref="IdleLifetime"/> is closed
/// and forgotten: the silo incarnations ever sent to leave nothing behind.
/// </summary>
internal sealed class DirectReplicaLinks(ReplicaId self, Serializer serializer, TimeProvider time, TimeSpan replyTimeout) : IDisposable
{
    private readonly ReplicaId _self = self;
    private readonly Serializer _serializer = serializer;
    private readonly TimeProvider _time = time;
    private readonly TimeSpan _replyTimeout = replyTimeout;

    public static readonly TimeSpan IdleLifetime = TimeSpan.FromMinutes(2);

    /// <summary>How long after a failed connection or an unanswered question the port is asked again.</summary>
    public static readonly TimeSpan AskAgainAfter = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<ReplicaId, Link> _links = new();
    private long _nextSweep;

    /// <summary>Silos with a link now, for tests.</summary>
    internal int Count => _links.Count;

    /// <summary>Whether the port of <paramref name="target"/> is being asked for now, for tests.</summary>
    internal bool Asking(ReplicaId target) => _links.TryGetValue(target, out var link) && link.Asking;

    /// <summary>
    /// Sends <paramref name="batch"/> to <paramref name="target"/> on its connection, or returns null when its port
    /// is not known (then starts asking for it with <paramref name="askPort"/>, whose 0 means it takes none).
    /// </summary>
    public Task<ReplicaReply[]>? TrySend(ReplicaId target, ReplicaRequest[] batch, Func<ReplicaId, Task<int>> askPort)
    {
        var now = _time.GetTimestamp();
        SweepIdle(now);
        var link = _links.GetOrAdd(target, static t => new Link(t));
        return link.Connection(this, now, askPort)?.SendAsync(batch);
    }

    public void Dispose()
    {
        foreach (var link in _links.Values)
        {
            link.Close();
        }

        _links.Clear();
    }

    private void SweepIdle(long now)
    {
        var due = Interlocked.Read(ref _nextSweep);
        if (now < due || Interlocked.CompareExchange(ref _nextSweep, now + Ticks(IdleLifetime), due) != due)
        {
            return;
        }

        foreach (var (target, link) in _links)
        {
            if (link.IdleFor(this, now) > IdleLifetime && _links.TryRemove(new(target, link)))
            {
                link.Close();
            }
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private TimeSpan Elapsed(long since, long now) => TimeSpan.FromSeconds((now - since) / (double)_time.TimestampFrequency);

    /// <summary>What this silo knows of one other silo's direct port, and its connection there.</summary>
    private sealed class Link(ReplicaId target)
    {
        private readonly IPAddress _address = SiloAddress.FromParsableString(target.Value).Endpoint.Address;
        private int _port = -1;
        private bool _asking;
        private long _askAt;
        private long _lastUse;
        private DirectConnection? _connection;

        public bool Asking
        {
            get
            {
                lock (this)
                {
                    return _asking;
                }
            }
        }

        public TimeSpan IdleFor(DirectReplicaLinks links, long now)
        {
            lock (this)
            {
                return _asking || _connection?.Waiting > 0 ? TimeSpan.Zero : links.Elapsed(_lastUse, now);
            }
        }

        public DirectConnection? Connection(DirectReplicaLinks links, long now, Func<ReplicaId, Task<int>> askPort)
        {
            lock (this)
            {
                _lastUse = now;
                if (_port > 0)
                {
                    return _connection ??= new DirectConnection(
                        target, new IPEndPoint(_address, _port), DirectFrames.Hello(links._self, target), links._serializer, links._time, links._replyTimeout, Failed);
                }

                if (!_asking && now >= _askAt)
                {
                    _asking = true;
                    DetachedWork.Start(() => AskAsync(links, askPort));
                }

                return null;
            }
        }

        public void Close()
        {
            DirectConnection? connection;
            lock (this)
            {
                (connection, _connection) = (_connection, null);
            }

            connection?.Dispose();
        }

        private async Task AskAsync(DirectReplicaLinks links, Func<ReplicaId, Task<int>> askPort)
        {
            int? port = null;
            try
            {
                port = await askPort(target).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Unreachable, or a silo of a version without the direct transport: ask again later.
            }

            lock (this)
            {
                _asking = false;
                _port = port > 0 ? port.Value : -1;
                _askAt = links._time.GetTimestamp() + links.Ticks(port == 0 ? IdleLifetime : AskAgainAfter);
            }
        }

        private void Failed(DirectConnection connection)
        {
            lock (this)
            {
                if (!ReferenceEquals(_connection, connection))
                {
                    return;
                }

                // Through Orleans until the silo says again where it listens (it may have stopped, or gone).
                _connection = null;
                _port = -1;
                _askAt = 0;
            }
        }
    }
}
