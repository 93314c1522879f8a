using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Values;

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.IValueGrainInternal")]
internal interface IValueGrainInternal : IGrainWithStringKey
{
    /// <summary>The session an ephemeral value is bound to ended: the value is deleted (after a delay if its state vanished).</summary>
    [Alias("session-ended")]
    Task OnSessionEnded(string sessionId, SessionStatus how);

    /// <summary>Activate and re-read the value after a failover (restarts a pending delay in full, lets go of finished bindings).</summary>
    [Alias("recover")]
    Task Recover();
}

/// <summary>
/// One named value (<see cref="ValueRegister"/>), with watchers parked until the next revision, as an election's
/// observers are. Reentrant, so a parked watch never blocks a write; every change still goes one accept at a
/// time through the register.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class ValueGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<ValueGrain> logger)
    : Grain, IValueGrain, IValueGrainInternal
{
    private readonly List<(long After, TaskCompletionSource Done)> _watchers = [];
    private ValueRegister _value = null!;
    private long _lastWatch = long.MinValue;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _value = new ValueRegister(this, GrainFactory, registers, time, options.Value, IsWatched, logger) { Committed = OnCommitted };
        _value.Activate();
        return Task.CompletedTask;
    }

    public async Task<VersionedValue> Get()
    {
        _value.ValidateName();
        return ValueStateMachine.Current(await _value.ReadAsync(), _value.Name);
    }

    public Task<ValueWriteResult> Write(ValueWrite write)
    {
        _value.ValidateName();
        ValueStateMachine.Validate(write);
        return _value.WriteAsync(write);
    }

    /// <summary>
    /// Reads through a majority, then answers with what came after <paramref name="afterRevision"/>; if nothing did,
    /// waits (parked) for the next committed revision, whose accept also began after the call.
    /// </summary>
    public async Task<ValueWatchResult> Watch(long afterRevision, TimeSpan maxWait)
    {
        _value.ValidateName();
        if (afterRevision < 0)
        {
            throw new CoordinationArgumentException(nameof(afterRevision), $"a revision is 0 or more (got {afterRevision})");
        }

        if (maxWait < TimeSpan.Zero)
        {
            throw new CoordinationArgumentException(nameof(maxWait), $"a wait must not be negative (got {maxWait})");
        }

        _lastWatch = time.GetTimestamp();
        var read = await _value.ReadAsync();
        var now = ValueStateMachine.Watch(read, _value.Name, afterRevision);
        if (now.Resync || !now.Events.IsEmpty || maxWait <= TimeSpan.Zero)
        {
            return now;
        }

        if (_value.Last is { } last && last.Revision > afterRevision)
        {
            // A change committed between the read and this turn: its wake-up has already gone by.
            return ValueStateMachine.Watch(last, _value.Name, afterRevision);
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _watchers.Add((afterRevision, done));
        try
        {
            await done.Task.WaitAsync(maxWait < options.Value.MaxPark ? maxWait : options.Value.MaxPark, time);
        }
        catch (TimeoutException)
        {
            _watchers.Remove((afterRevision, done));
        }
        finally
        {
            _lastWatch = time.GetTimestamp();
        }

        // An absent register commits as null: the fresh value read above stands for it.
        return ValueStateMachine.Watch(_value.Last ?? read, _value.Name, afterRevision);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) => _value.SessionEndedAsync(sessionId, how);

    public Task Recover() => _value.RecoverAsync();

    /// <summary>Watchers parked now, or one that called within the retention (it is between two calls): its history stays.</summary>
    private bool IsWatched() =>
        _watchers.Count > 0 || (_lastWatch != long.MinValue && time.GetElapsedTime(_lastWatch) < options.Value.IdleRetention);

    private void OnCommitted(ValueRecord? record)
    {
        var revision = record?.Revision ?? 0;
        for (var i = _watchers.Count - 1; i >= 0; i--)
        {
            if (_watchers[i].After < revision)
            {
                _watchers[i].Done.TrySetResult();
                _watchers.RemoveAt(i);
            }
        }
    }
}
