using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>The interval and token sweeps of <see cref="MutexChecker"/> on recorded histories with a hand-driven clock.</summary>
public sealed class MutexCheckerTests
{
    private const string Key = "k";
    private readonly HistoryRecorder _recorder;
    private long _now;

    public MutexCheckerTests()
    {
        _recorder = new HistoryRecorder(() => _now);
    }

    [Fact]
    public void Overlapping_grants_are_caught()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 1);
        var a2 = Invoke(2, 2, "acquire");
        Complete(3, a2, 2);
        var r1 = Invoke(4, 1, "release", 1);
        Complete(5, r1);

        var result = MutexChecker.Check(_recorder.Snapshot());

        Assert.False(result.Valid);
        Assert.Contains("overlap", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_grant_after_the_release_was_sent_passes()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 1);
        var r1 = Invoke(2, 1, "release", 1);
        var a2 = Invoke(3, 2, "acquire");
        Complete(4, r1);
        Complete(5, a2, 2);

        Assert.True(MutexChecker.Check(_recorder.Snapshot()).Valid);
    }

    [Fact]
    public void A_lost_signal_ends_the_grant_before_the_next_one()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 1);
        var a2 = Invoke(2, 2, "acquire");
        _now = 3;
        _recorder.Record(1, "lost", Key, 1, null);
        Complete(4, a2, 2);

        Assert.True(MutexChecker.Check(_recorder.Snapshot()).Valid);
    }

    [Fact]
    public void A_grant_held_across_a_pause_is_left_out_of_the_overlap_check()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 5);
        var a2 = Invoke(2, 2, "acquire");
        Complete(3, a2, 6);
        var history = _recorder.Snapshot();

        Assert.False(MutexChecker.Check(history).Valid);
        Assert.True(MutexChecker.Check(history, new HashSet<(string, int, long)> { (Key, 1, 5) }).Valid);
    }

    [Fact]
    public void Only_the_grant_held_across_a_pause_is_left_out_not_its_process_later_grants()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 5);
        var a2 = Invoke(2, 2, "acquire");
        Complete(3, a2, 6);
        var r2 = Invoke(4, 2, "release", 6);
        Complete(5, r2);
        var a3 = Invoke(6, 1, "acquire");
        Complete(7, a3, 7);
        var a4 = Invoke(8, 2, "acquire");
        Complete(9, a4, 8);
        var history = _recorder.Snapshot();

        Assert.True(MutexChecker.Check(history, new HashSet<(string, int, long)> { (Key, 1, 5), (Key, 1, 7) }).Valid);
        var result = MutexChecker.Check(history, new HashSet<(string, int, long)> { (Key, 1, 5) });
        Assert.False(result.Valid, "the later grant of the once-paused process overlapped another and was not judged");
        Assert.Contains("token 7", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_grant_held_across_a_pause_is_still_held_to_token_order()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 5);
        var a2 = Invoke(2, 2, "acquire");
        Complete(3, a2, 3);

        var result = MutexChecker.Check(_recorder.Snapshot(), new HashSet<(string, int, long)> { (Key, 1, 5) });

        Assert.Contains("order", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_token_granted_twice_is_caught()
    {
        var a1 = Invoke(0, 1, "acquire");
        var a2 = Invoke(1, 2, "acquire");
        Complete(2, a1, 1);
        var r1 = Invoke(3, 1, "release", 1);
        Complete(4, a2, 1);
        Complete(5, r1);

        var result = MutexChecker.Check(_recorder.Snapshot());

        Assert.Contains("duplicate token 1", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_later_grant_with_a_lower_token_is_caught()
    {
        var a1 = Invoke(0, 1, "acquire");
        Complete(1, a1, 2);
        var r1 = Invoke(2, 1, "release", 2);
        Complete(3, r1);
        var a2 = Invoke(4, 2, "acquire");
        Complete(5, a2, 1);

        var result = MutexChecker.Check(_recorder.Snapshot());

        Assert.Contains("order", Assert.Single(result.Violations));
    }

    private OpHandle Invoke(long at, int process, string f, long? token = null)
    {
        _now = at;
        return _recorder.Invoke(process, f, Key, token);
    }

    private void Complete(long at, OpHandle op, long? result = null)
    {
        _now = at;
        op.Ok(result);
    }
}
