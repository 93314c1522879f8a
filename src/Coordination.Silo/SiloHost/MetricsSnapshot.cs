using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Keeps the latest measurements of the service's meters (<see cref="MetricsExport.Meters"/>) in this silo (a bounded window per
/// instrument) and serves their counts and percentiles at /api/metrics, for operators and benchmarks
/// that have no OpenTelemetry collector at hand; with them, the Orleans messages this silo counted
/// (<see cref="OrleansMessageCounts"/>), so a benchmark can report messages per operation.
/// </summary>
internal sealed class MetricsSnapshot : IDisposable
{
    private const int Window = 20_000;

    /// <summary>A tagged histogram's window (there may be a few dozen of them; each read of /api/metrics sorts every window).</summary>
    private const int TaggedWindow = 2_048;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, Series> _series = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, object? A, object? B, object? C), (string Name, Series Series)> _tagged = new();
    private readonly OrleansMessageCounts _messages = new();

    public MetricsSnapshot()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (MetricsExport.Meters.Contains(instrument.Meter.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) =>
        {
            Record(i, v);
            if (!tags.IsEmpty && i is Histogram<double>)
            {
                RecordTagged(i, v, tags);
            }
        });
        _listener.SetMeasurementEventCallback<int>((i, v, _, _) => Record(i, v));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            Record(i, v);
            if (!tags.IsEmpty && i is Counter<long>)
            {
                RecordTagged(i, v, tags);
            }
        });
        _listener.Start();
    }

    private (int Gen0, int Gen1, int Gen2, TimeSpan Pause, long Allocated) _gcAtReset = Gc();

    /// <param name="percentiles">
    /// False: histograms give their count and mean only, without copying and sorting their windows. What a benchmark
    /// reads around each timed part (messages, allocations, round counts), so the read itself costs the silo next to nothing.
    /// </param>
    public object Report(bool percentiles = true)
    {
        var report = _series.Select(s => (Name: s.Key, Series: s.Value)).Concat(_tagged.Values)
            .OrderBy(s => s.Name, StringComparer.Ordinal).ToDictionary(s => s.Name, s => s.Series.Summary(percentiles));
        var now = Gc();
        report["orleans.messages"] = _messages.Report();
        report["runtime.gc"] = new { gen0 = now.Gen0 - _gcAtReset.Gen0, gen1 = now.Gen1 - _gcAtReset.Gen1, gen2 = now.Gen2 - _gcAtReset.Gen2, pauseMs = (now.Pause - _gcAtReset.Pause).TotalMilliseconds, allocatedBytes = now.Allocated - _gcAtReset.Allocated, server = System.Runtime.GCSettings.IsServerGC };
        return report;
    }

    /// <summary>The three series the coordination page charts, summed over this silo's life (or since the last reset).</summary>
    public HeadlineMetrics Headline() => new(
        _series.TryGetValue("coordination.lock.grants", out var grants) ? grants.Total : 0,
        _series.TryGetValue("coordination.lock.acquire.duration", out var acquire) ? acquire.Percentile(0.99) : 0,
        _series.TryGetValue("coordination.failover.reactivations", out var failovers) ? failovers.Total : 0);

    public void Reset()
    {
        _series.Clear();
        _tagged.Clear();
        _messages.Reset();
        _gcAtReset = Gc();
    }

    private static (int Gen0, int Gen1, int Gen2, TimeSpan Pause, long Allocated) Gc() => (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());

    public void Dispose()
    {
        _listener.Dispose();
        _messages.Dispose();
    }

    /// <summary>Runs on every measurement of every enabled instrument (several per lock operation): no closure, no allocation once the series exists.</summary>
    private void Record(Instrument instrument, double value) =>
        _series.GetOrAdd(instrument.Name, static (_, i) => new Series(i is Counter<long> ? 0 : Window), instrument).Add(value);

    /// <summary>
    /// A tagged counter's or histogram's measurement once more under its tags' values (the first three), as "name[key=value,...]":
    /// replica rounds and their durations by outcome, phase and register kind, for instance. The key is the values themselves (constant strings), so nothing is allocated once the series exists.
    /// </summary>
    private void RecordTagged(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = (instrument, tags[0].Value, tags.Length > 1 ? tags[1].Value : null, tags.Length > 2 ? tags[2].Value : null);
        if (!_tagged.TryGetValue(key, out var tagged))
        {
            var name = $"{instrument.Name}[{string.Join(",", tags[..Math.Min(3, tags.Length)].ToArray().Select(t => $"{t.Key}={t.Value}"))}]";
            tagged = _tagged.GetOrAdd(key, (name, new Series(instrument is Counter<long> ? 0 : TaggedWindow)));
        }

        tagged.Series.Add(value);
    }

    /// <summary>A histogram's latest <paramref name="window"/> values, count and sum; a counter's (window 0) total only.</summary>
    private sealed class Series(int window)
    {
        private readonly Lock _gate = new();
        private readonly double[] _window = new double[window];
        private long _count;
        private double _sum;

        public void Add(double value)
        {
            lock (_gate)
            {
                if (window > 0)
                {
                    _window[_count % window] = value;
                }

                _count++;
                _sum += value;
            }
        }

        public double Total
        {
            get
            {
                lock (_gate)
                {
                    return _sum;
                }
            }
        }

        public double Percentile(double q) => At(Sorted(), q);

        public object Summary(bool percentiles = true)
        {
            if (window == 0)
            {
                return new { total = Total };
            }

            if (!percentiles)
            {
                lock (_gate)
                {
                    return new { count = _count, mean = _count == 0 ? 0 : _sum / _count };
                }
            }

            var sorted = Sorted();
            lock (_gate)
            {
                return new { count = _count, mean = _count == 0 ? 0 : _sum / _count, p50 = At(sorted, 0.5), p90 = At(sorted, 0.9), p99 = At(sorted, 0.99), max = sorted.Length == 0 ? 0 : sorted[^1] };
            }
        }

        private static double At(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

        // Copied under the lock, sorted outside it, with the primitive sort: a LINQ ordering of the window cost the
        // busiest silo a tenth of its CPU when a benchmark read /api/metrics every second.
        private double[] Sorted()
        {
            double[] copy;
            lock (_gate)
            {
                copy = _window.AsSpan(0, (int)Math.Min(_count, window)).ToArray();
            }

            Array.Sort(copy);
            return copy;
        }
    }
}

/// <summary>What the coordination page charts from one silo: grants and failover re-activations so far, and the acquire p99 in ms.</summary>
internal sealed record HeadlineMetrics(double Grants, double AcquireP99Ms, double Failovers);
