using Coordination.Membership.Protocol;

namespace Coordination.Membership.Hosting;

/// <summary>
/// The silo's <see cref="SwimNode"/> behind its lock, on the host's monotonic clock. The node is a
/// single-threaded state machine and the tick loop, the probe service and Orleans' membership updates call
/// it concurrently: every call runs under the lock with the time read under it, and what the call produced
/// (messages, changes) is drained under the same lock, to be acted on outside it.
/// </summary>
internal sealed class LockedSwimNode
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly SwimNode _node;
    private Action<TimeSpan>? _dueChanged;

    public LockedSwimNode(MemberId self, ProbeOptions options, TimeProvider time)
    {
        _time = time;
        _origin = time.GetTimestamp();
        _node = new SwimNode(self, options, new Random(HashCode.Combine(self.Value, Environment.TickCount64)), Now);
    }

    /// <summary>Time since the host started, from its <see cref="TimeProvider"/>.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_origin);

    /// <summary>
    /// Tells <paramref name="listener"/>, after every call (outside the lock), when the node next has something to do
    /// (<see cref="SwimNode.NextDue"/>): the tick loop sleeps until then, and a message received may bring it forward.
    /// </summary>
    public void OnDueChanged(Action<TimeSpan> listener) => _dueChanged = listener;

    /// <summary>Runs <paramref name="step"/> on the node at the current time, and takes out what it produced.</summary>
    public NodeOutput Run(Action<SwimNode, TimeSpan> step)
    {
        NodeOutput output;
        TimeSpan due;
        lock (_gate)
        {
            var now = Now;
            step(_node, now);
            output = new NodeOutput(_node.DrainOutbox(), _node.DrainChanges());
            due = _node.NextDue(now);
        }

        _dueChanged?.Invoke(due);
        return output;
    }

    /// <summary>Reads the node at the current time.</summary>
    public T Read<T>(Func<SwimNode, TimeSpan, T> read)
    {
        lock (_gate)
        {
            return read(_node, Now);
        }
    }
}

/// <summary>What one call into the node produced: messages to send, status changes to act on.</summary>
internal readonly record struct NodeOutput(IReadOnlyList<Outgoing> Outbox, IReadOnlyList<MemberChange> Changes);
