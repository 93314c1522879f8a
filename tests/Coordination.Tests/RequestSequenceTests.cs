using Coordination.Client;

namespace Coordination.Tests;

/// <summary>A session's request numbers and its settled-through mark (<see cref="RequestSequence"/>).</summary>
public sealed class RequestSequenceTests
{
    /// <summary>
    /// Scripts of steps: "+" hands out the next number, "sN" settles number N (a reply said granted or queued, the
    /// answer was final, or its withdrawal was acknowledged). The marks are the settled-through mark after each step.
    /// </summary>
    public static TheoryData<string, string, long[]> Scripts => new()
    {
        { "nothing handed out", "", [] },
        { "settled in order, each before the next is made", "+ s1 + s2 + s3", [0, 1, 1, 2, 2, 3] },
        { "out of order: the later ones wait for the first", "+ + + s3 s2 s1", [0, 0, 0, 0, 0, 3] },
        { "out of order: the middle one first", "+ + + s2 s1 s3", [0, 0, 0, 0, 2, 3] },
        { "1 granted (settled at the reply) and held for months does not hold back 2 to 4", "+ s1 + + s3 s2 + s4", [0, 1, 1, 1, 1, 3, 3, 4] },
        { "1 queued and waiting long does not hold back 2", "+ s1 + s2", [0, 1, 1, 2] },
        { "a pending withdrawal of 1 holds the mark back until it is acknowledged", "+ + s2 + s3 s1", [0, 0, 0, 0, 0, 3] },
        { "a pending withdrawal of 2 holds back 3 and 4, not 1", "+ + + + s1 s4 s3 s2", [0, 0, 0, 0, 1, 1, 1, 4] },
        { "a new number while everything is settled leaves the mark", "+ s1 + + s3 s2", [0, 1, 1, 1, 1, 3] },
        { "settling again (queued, then granted) changes nothing", "+ + s2 s2 s1 s1", [0, 0, 0, 0, 2, 2] },
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public void The_mark_is_the_lowest_unsettled_number_less_one_or_the_highest_handed_out(string because, string script, long[] expected)
    {
        var sequence = new RequestSequence();
        var handedOut = 0L;
        var marks = new List<long>();
        foreach (var step in script.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (step == "+")
            {
                Assert.Equal(++handedOut, sequence.Next());
            }
            else
            {
                sequence.Settle(long.Parse(step[1..], System.Globalization.CultureInfo.InvariantCulture));
            }

            marks.Add(sequence.SettledThrough);
        }

        Assert.True(expected.SequenceEqual(marks), $"{because}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", marks)}]");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 3)]
    [InlineData(4, 3)]
    [InlineData(1, 0)]
    public void Only_a_number_handed_out_can_be_settled(long number, int handedOut)
    {
        var sequence = new RequestSequence();
        for (var n = 0; n < handedOut; n++)
        {
            sequence.Next();
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => sequence.Settle(number));
        Assert.Equal(0, sequence.SettledThrough);
        Assert.Equal(handedOut, sequence.Unsettled);
    }

    /// <summary>Random interleavings against the definition: the mark equals it after every step and never goes down.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Under_any_interleaving_the_mark_follows_its_definition_and_only_grows(int seed)
    {
        var random = new Random(seed);
        var sequence = new RequestSequence();
        var unsettled = new List<long>();
        var handedOut = 0L;
        var previous = 0L;
        for (var step = 0; step < 2_000; step++)
        {
            if (unsettled.Count == 0 || random.Next(3) == 0)
            {
                unsettled.Add(sequence.Next());
                handedOut++;
            }
            else
            {
                var index = random.Next(unsettled.Count);
                sequence.Settle(unsettled[index]);
                unsettled.RemoveAt(index);
            }

            var mark = sequence.SettledThrough;
            Assert.Equal(unsettled.Count == 0 ? handedOut : unsettled.Min() - 1, mark);
            Assert.True(mark >= previous, $"seed {seed}, step {step}: the mark went from {previous} down to {mark}");
            previous = mark;
        }

        foreach (var number in unsettled)
        {
            sequence.Settle(number);
        }

        Assert.Equal(handedOut, sequence.SettledThrough);
        Assert.Equal(0, sequence.Unsettled);
    }

    [Fact]
    public async Task Numbers_are_unique_and_all_settle_when_requests_run_concurrently()
    {
        var sequence = new RequestSequence();
        var numbers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            var mine = new List<long>();
            for (var n = 0; n < 1_000; n++)
            {
                var number = sequence.Next();
                mine.Add(number);
                if (n % 2 == 1)
                {
                    sequence.Settle(mine[^2]);
                    sequence.Settle(number);
                }
            }

            return mine;
        })));

        var all = numbers.SelectMany(n => n).ToList();
        Assert.Equal(8_000, all.Distinct().Count());
        Assert.Equal(8_000, all.Max());
        Assert.Equal(8_000, sequence.SettledThrough);
        Assert.Equal(0, sequence.Unsettled);
    }
}
