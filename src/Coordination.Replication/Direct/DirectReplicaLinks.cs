using System.Collections.Concurrent;
using System.Net;
using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;

namespace Coordination.Replication.Direct;

/// <summary>
/// The sending end of the direct replica transport: one connection to each silo this one sends replica batches
/// to. A silo's port is learnt by asking it through Orleans; <see cref="TrySend"/> declines (the caller sends
/// through Orleans) until the port is known and a connection to it is made, and while a silo says it takes none.
/// A connection that fails or leaves a batch unanswered goes, failing its waiting batches (lost messages, as the
/// protocol allows); the port is then asked again after a pause that doubles with each failure in a row, up to
/// <see cref="IdleLifetime"/>, so an unreachable port (a firewall, a silo that stopped listening) costs a batch now
/// and then, not every other one. A link unused for <see cref="IdleLifetime"/> is closed and forgotten: the silo
/// incarnations ever sent to leave nothing behind.
/// </summary>
internal sealed partial class DirectReplicaLinks(ReplicaId self, Serializer serializer, TimeProvider time, TimeSpan replyTimeout, ClusterTls? tls, ILogger logger) : IDisposable
{
    public static readonly TimeSpan IdleLifetime = TimeSpan.FromMinutes(2);

    /// <summary>The pause before asking again after the first failure in a row (an unanswered question, a failed connection).</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);

    private readonly ReplicaId _self = self;
    private readonly Serializer _serializer = serializer;
    private readonly TimeProvider _time = time;
    private readonly TimeSpan _replyTimeout = replyTimeout;
    private readonly ClusterTls? _tls = tls;
    private readonly ILogger _logger = logger;
    private readonly ConcurrentDictionary<ReplicaId, Link> _links = new();
    private long _nextSweep;
    private long _replies;

    /// <summary>Silos with a link now, for tests.</summary>
    internal int Count => _links.Count;

    /// <summary>Batches answered on direct connections, for tests.</summary>
    internal long Replies => Interlocked.Read(ref _replies);

    /// <summary>Whether the port of <paramref name="target"/> is being asked for now, for tests.</summary>
    internal bool Asking(ReplicaId target) => _links.TryGetValue(target, out var link) && link.Asking;

    /// <summary>The unanswered bytes the connection to <paramref name="target"/> allows, for tests.</summary>
    internal int? Bound(ReplicaId target) => _links.TryGetValue(target, out var link) ? link.Bound : null;

    /// <summary>Whether a connection to <paramref name="target"/> is made and carries batches, for tests.</summary>
    internal bool Connected(ReplicaId target) => _links.TryGetValue(target, out var link) && link.Connected;

    /// <summary>
    /// Sends <paramref name="batch"/> to <paramref name="target"/> on its connection, or returns null when there is
    /// none yet (then works towards one: asks the port with <paramref name="askPort"/>, whose 0 means the silo takes
    /// none, or connects) or the connection declines it (too much unanswered on it, or the batch too large).
    /// </summary>
    public Task<ReplicaReply[]>? TrySend(ReplicaId target, ReplicaRequest[] batch, Func<ReplicaId, Task<int>> askPort)
    {
        var now = _time.GetTimestamp();
        SweepIdle(now);
        var sent = _links.GetOrAdd(target, static t => new Link(t)).Connection(this, now, askPort)?.TrySend(batch);
        return sent is null ? null : CountAsync(sent);
    }

    public void Dispose()
    {
        foreach (var link in _links.Values)
        {
            link.Close();
        }

        _links.Clear();
    }

    private async Task<ReplicaReply[]> CountAsync(Task<ReplicaReply[]> sent)
    {
        var replies = await sent.ConfigureAwait(false);
        Interlocked.Increment(ref _replies);
        return replies;
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
                // Off the caller's thread (a grain's, perhaps): closing fails whatever still waits on the link.
                DetachedWork.Start(() =>
                {
                    link.Close();
                    return Task.CompletedTask;
                });
            }
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private TimeSpan Elapsed(long since, long now) => TimeSpan.FromSeconds((now - since) / (double)_time.TimestampFrequency);

    /// <summary>The pause after the <paramref name="failures"/>th failure in a row: <see cref="FirstRetry"/>, doubling, at most <see cref="IdleLifetime"/>.</summary>
    private long Backoff(int failures) => Ticks(TimeSpan.FromTicks(Math.Min(FirstRetry.Ticks << Math.Min(failures - 1, 16), IdleLifetime.Ticks)));

    [LoggerMessage(EventId = 2244, Level = LogLevel.Information, Message = "Replica batches to {Silo} go through Orleans for now: its direct port {Port} failed ({Reason})")]
    private static partial void LogConnectionFailed(ILogger logger, ReplicaId silo, int port, string reason);

    /// <summary>What this silo knows of one other silo's direct port, and its connection there.</summary>
    private sealed class Link(ReplicaId target)
    {
        private readonly Lock _gate = new();
        private readonly IPAddress _address = SiloAddress.FromParsableString(target.Value).Endpoint.Address;
        private int _port = -1;
        private bool _asking;
        private bool _closed;
        private int _failures;
        private long _askAt;
        private long _lastUse;
        private DirectConnection? _connection;

        public bool Asking
        {
            get
            {
                lock (_gate)
                {
                    return _asking;
                }
            }
        }

        public bool Connected
        {
            get
            {
                lock (_gate)
                {
                    return _connection?.IsConnected == true;
                }
            }
        }

        public int? Bound
        {
            get
            {
                lock (_gate)
                {
                    return _connection?.Bound;
                }
            }
        }

        public TimeSpan IdleFor(DirectReplicaLinks links, long now)
        {
            lock (_gate)
            {
                return _asking || _connection?.Waiting > 0 ? TimeSpan.Zero : links.Elapsed(_lastUse, now);
            }
        }

        /// <summary>The connection to send on, or null (send through Orleans) while there is none, making one when due.</summary>
        public DirectConnection? Connection(DirectReplicaLinks links, long now, Func<ReplicaId, Task<int>> askPort)
        {
            lock (_gate)
            {
                if (_closed)
                {
                    // Swept meanwhile: this batch goes through Orleans, the next finds a new link.
                    return null;
                }

                _lastUse = now;
                if (_connection is { } connection)
                {
                    if (!connection.IsConnected)
                    {
                        return null;
                    }

                    _failures = 0;
                    return connection;
                }

                if (now < _askAt)
                {
                    return null;
                }

                if (_port > 0)
                {
                    var port = _port;
                    _connection = new DirectConnection(
                        target, new IPEndPoint(_address, _port), DirectFrames.Hello(links._self, target), links._serializer, links._time, links._replyTimeout, links._tls,
                        (failed, reason) => Failed(links, failed, port, reason));
                }
                else if (!_asking)
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
            lock (_gate)
            {
                _closed = true;
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
                // Unreachable, or a silo of a version without the direct transport: asked again after a pause.
            }

            lock (_gate)
            {
                _asking = false;
                _port = port > 0 ? port.Value : -1;
                var now = links._time.GetTimestamp();
                _askAt = port switch
                {
                    > 0 => 0,
                    0 => now + links.Ticks(IdleLifetime),
                    _ => now + links.Backoff(++_failures),
                };
            }
        }

        private void Failed(DirectReplicaLinks links, DirectConnection connection, int port, Exception reason)
        {
            lock (_gate)
            {
                if (!ReferenceEquals(_connection, connection))
                {
                    return;
                }

                // Through Orleans until the silo says again where it listens (it may have stopped, or gone).
                _connection = null;
                _port = -1;
                _askAt = links._time.GetTimestamp() + links.Backoff(++_failures);
                if (_failures == 1 && reason is not ObjectDisposedException)
                {
                    LogConnectionFailed(links._logger, target, port, $"{reason.GetType().Name}: {reason.Message}");
                }
            }
        }
    }
}
