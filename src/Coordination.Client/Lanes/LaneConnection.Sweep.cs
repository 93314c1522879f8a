using Coordination.Framing;
using Coordination.Lanes;

namespace Coordination.Client.Lanes;

/// <summary>The connection's sweep: calls past their limits, and the ping that tells a paused or gone silo from a slow grain.</summary>
internal sealed partial class LaneConnection
{
    private void Sweep()
    {
        if (Volatile.Read(ref _connected) == 0 && _time.GetElapsedTime(_created) >= ConnectTimeout)
        {
            Break(new TimeoutException($"The client lane connection to {_address.Silo} was not made within {ConnectTimeout}."));
            return;
        }

        var ping = Interlocked.Read(ref _pingSentAt);
        if (ping != 0 && Volatile.Read(ref _lastReceived) < ping && _time.GetElapsedTime(ping) >= PingTimeout && !Unread())
        {
            // Nothing came back, not even the ping's answer: the silo is paused or gone. The connection goes, and its
            // calls fail as unanswered (sent again on a new connection, or through Orleans).
            Break(new TimeoutException($"{_address.Silo} did not answer a ping on the client lane within {PingTimeout}."));
            return;
        }

        foreach (var (id, waiter) in _waiting)
        {
            if (_time.GetElapsedTime(waiter.SentAt) < waiter.Limit)
            {
                continue;
            }

            // Past its limit, the call alone fails as unanswered (its reply, if it comes, finds no one): its grain may
            // wait on a silo that went. Whether this silo is alive is the ping's question, unless it answered anything
            // since the call went.
            Settle(id)?.Reply.TrySetException(Unanswered(new TimeoutException($"{_address.Silo} left a lock call on the client lane unanswered for {waiter.Limit}.")));
            if (Volatile.Read(ref _lastReceived) <= waiter.SentAt && (ping == 0 || Volatile.Read(ref _lastReceived) >= ping))
            {
                ping = Ping();
            }
        }
    }

    /// <summary>Whether bytes came that the reading thread has not read yet (this process stalled, not the silo).</summary>
    private bool Unread()
    {
        try
        {
            return _socket.Available > 0;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Sends a ping (the silo's reading thread answers it at once); returns when it went.</summary>
    private long Ping()
    {
        var sentAt = 0L;
        try
        {
            lock (_writing)
            {
                sentAt = _time.GetTimestamp();
                Frames.WriteTo(_stream!, Frames.Frame(-Interlocked.Increment(ref _nextId), (int)LaneFrameKind.Ping, []));
            }
        }
        catch (Exception ex)
        {
            Break(ex);
        }

        Interlocked.Exchange(ref _pingSentAt, sentAt);
        return sentAt;
    }
}
