using System.Runtime.ExceptionServices;
using Coordination.Lanes;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;

namespace Coordination.Client.Lanes;

/// <summary>
/// The client lane (see <see cref="LaneWire"/>): a lock's acquire and release go to the gateway silo on a connection of
/// this client's own, and through Orleans whenever the lane declines them before writing (not connected yet, backing
/// off after a failure, the silo has no lane, too much unanswered). The request is the same either way, so a call sent
/// again through the other path is the same request, and the lock's idempotence (request ids, session sequence,
/// settled-through mark) applies as to any retry. A call that went on the lane and got no reply fails as unanswered
/// (<see cref="SiloUnavailableException"/>), never falls back by itself: its caller's retry rules treat it as possibly
/// applied.
/// </summary>
internal sealed partial class LockLane(IGrainFactory grains, Serializer serializer, ClusterTls? tls, ClusterChangeSignal changes, CoordinationClientOptions options, TimeProvider time, ILogger logger) : IDisposable
{
    /// <summary>How long asking the gateway for its lane may take.</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long after hearing that the gateway has no lane (or one this client must not use) it asks again.</summary>
    private static readonly TimeSpan NoLaneRecheck = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly LogThrottle _failures = new(TimeSpan.FromSeconds(30), time);
    private LaneConnection? _connection;
    private bool _asking;
    private bool _disposed;
    private long _notBefore = long.MinValue;
    private TimeSpan _backoff = FirstBackoff;
    private long _direct;
    private long _throughOrleans;

    /// <summary>Lock calls sent on the lane so far.</summary>
    public long Direct => Interlocked.Read(ref _direct);

    /// <summary>Lock calls sent through Orleans so far (the lane declined them).</summary>
    public long ThroughOrleans => Interlocked.Read(ref _throughOrleans);

    /// <summary>True while a connection is up.</summary>
    public bool IsConnected => Volatile.Read(ref _connection) is { IsConnected: true };

    /// <summary><paramref name="grain"/>'s acquire of <paramref name="name"/>: on the lane, answered within the request's park and the call grace, or through Orleans.</summary>
    public Task<AcquireResult> Acquire(ILockGrain grain, string name, AcquireRequest request)
    {
        if (TrySend(new LaneCall(name, request, null), request.MaxWait + options.CallGrace) is { } reply)
        {
            return AcquiredAsync(reply);
        }

        return grain.Acquire(request);
    }

    /// <summary><paramref name="grain"/>'s release of <paramref name="name"/>: on the lane, answered within the call timeout, or through Orleans.</summary>
    public Task<ReleaseOutcome> Release(ILockGrain grain, string name, ReleaseRequest request)
    {
        if (TrySend(new LaneCall(name, null, request), options.CallTimeout) is { } reply)
        {
            return ReleasedAsync(reply);
        }

        return grain.Release(request);
    }

    /// <summary>Ends the connection now, as a silo going would (calls on it fail as unanswered); the next call asks for a new one at once.</summary>
    internal void Interrupt() => Volatile.Read(ref _connection)?.Dispose();

    /// <summary>Ends the connection (calls on it fail as unanswered); later calls go through Orleans.</summary>
    public void Dispose()
    {
        LaneConnection? connection;
        lock (_gate)
        {
            _disposed = true;
            connection = _connection;
            _connection = null;
        }

        connection?.Dispose();
    }

    private static async Task<AcquireResult> AcquiredAsync(Task<LaneReply> reply)
    {
        var answer = await reply.ConfigureAwait(false);
        Rethrow(answer);
        return answer.Acquired ?? throw new InvalidDataException("The client lane answered an acquire without its result.");
    }

    private static async Task<ReleaseOutcome> ReleasedAsync(Task<LaneReply> reply)
    {
        var answer = await reply.ConfigureAwait(false);
        Rethrow(answer);
        return answer.Released;
    }

    /// <summary>The grain call's error, as the same call through Orleans would have thrown it.</summary>
    private static void Rethrow(LaneReply answer)
    {
        if (answer.Error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    private Task<LaneReply>? TrySend(LaneCall call, TimeSpan limit)
    {
        if (Ready()?.TrySend(call, limit) is { } reply)
        {
            Interlocked.Increment(ref _direct);
            return reply;
        }

        Interlocked.Increment(ref _throughOrleans);
        return null;
    }

    /// <summary>The connection to use now; null (and a connection asked for, unless one is on its way or the lane backs off) when there is none.</summary>
    private LaneConnection? Ready()
    {
        var connection = Volatile.Read(ref _connection);
        if (connection is not null)
        {
            var changed = connection.MadeUnder.IsCancellationRequested;
            if (connection.IsConnected && !changed)
            {
                return connection;
            }

            if (!connection.IsBroken && !changed)
            {
                // Still connecting.
                return null;
            }

            // Broken, or the client lost a gateway since it was made (it may be the one this connection goes to,
            // paused: its calls would wait out their limits): a new one is asked for, through a live gateway.
            connection.Dispose();
            lock (_gate)
            {
                if (_connection == connection)
                {
                    _connection = null;
                }
            }
        }

        Ask();
        return null;
    }

    private void Ask()
    {
        lock (_gate)
        {
            if (_asking || _disposed || _connection is not null || time.GetTimestamp() < _notBefore)
            {
                return;
            }

            _asking = true;
        }

        DetachedWork.Start(AskAsync);
    }

    /// <summary>Asks the gateway silo (through Orleans) where its lane is, and connects there.</summary>
    private async Task AskAsync()
    {
        LaneConnection? made = null;
        try
        {
            var madeUnder = changes.Token;
            var address = await grains.GetGrain<ILockLaneGrain>(0).Where().WaitAsync(AskTimeout, time).ConfigureAwait(false);
            if (address is null)
            {
                Later(NoLaneRecheck);
            }
            else if (address.Tls != tls is not null)
            {
                // Never in the clear to a silo that takes TLS, nor without it from a client that uses it: through Orleans.
                LogTlsMismatch(logger, address.Silo, address.Tls, tls is not null);
                Later(NoLaneRecheck);
            }
            else
            {
                made = new LaneConnection(address, serializer, time, tls, madeUnder, Failed, Made);
            }
        }
        catch (Exception ex)
        {
            // An older silo without the lane's grain, or the gateway did not answer: through Orleans, and ask again later.
            Failed(null, ex);
        }
        finally
        {
            lock (_gate)
            {
                _asking = false;
                if (made is not null && !_disposed)
                {
                    _connection = made;
                    made = null;
                }
            }

            made?.Dispose();
        }
    }

    /// <summary>A connection broke or could not be made: the next is asked for after a backoff (doubling to <see cref="MaxBackoff"/> while they keep failing).</summary>
    private void Failed(LaneConnection? connection, Exception reason)
    {
        TimeSpan wait;
        lock (_gate)
        {
            if (_disposed || connection is { EndedByOwner: true })
            {
                // Ended here (the client closing, or a gateway lost): no fault of the lane's.
                return;
            }

            wait = _backoff;
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
        }

        Later(wait);
        if (_failures.TryEnter(out var heldBack))
        {
            LogFailed(logger, reason, connection is null ? "could not be found" : "broke", wait, heldBack);
        }
    }

    /// <summary>A connection the silo answered: the next failure backs off from the start again.</summary>
    private void Made(LaneConnection connection)
    {
        lock (_gate)
        {
            _backoff = FirstBackoff;
        }
    }

    private void Later(TimeSpan wait)
    {
        var at = time.GetTimestamp() + (long)(wait.TotalSeconds * time.TimestampFrequency);
        lock (_gate)
        {
            _notBefore = Math.Max(_notBefore, at);
        }
    }

    [LoggerMessage(EventId = 4401, Level = LogLevel.Information, Message = "The client lane to the gateway silo {Reason}; lock calls go through Orleans for {Wait} at least (lane failures: at most one logged per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogFailed(ILogger logger, Exception exception, string reason, TimeSpan wait, int heldBack);

    /// <summary>Logs why a client has no lane although it is switched on.</summary>
    [LoggerMessage(EventId = 4403, Level = LogLevel.Information, Message = "No client lane: this client's Orleans connections are configured (Orleans' own UseTls?) without UseClusterTls, and the lane would be in the clear; lock calls go through Orleans")]
    public static partial void LogConnectionsConfigured(ILogger logger);

    [LoggerMessage(EventId = 4402, Level = LogLevel.Warning, Message = "Not using the client lane of silo {Silo}: it takes TLS {SiloTls}, this client uses TLS {ClientTls}; lock calls go through Orleans")]
    private static partial void LogTlsMismatch(ILogger logger, string silo, bool siloTls, bool clientTls);
}
