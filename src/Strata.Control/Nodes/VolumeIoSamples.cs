namespace Strata.Control.Nodes;

/// <summary>
/// The last few I/O counters each served volume's target reported, in memory only: they change with every report
/// (every few seconds per volume), and writing them to the store would multiply its writes (etcd's raft log) for
/// numbers worth nothing a minute later. A restarted control plane has rates again after two reports; with more
/// than one control plane over a store, each knows the reports sent to it.
/// </summary>
public sealed class VolumeIoSamples(TimeProvider? clock = null)
{
    /// <summary>
    /// Rates are taken over at least this long when the samples allow: nodes report on every change as well as every
    /// few seconds, and two reports milliseconds apart make noisy rates.
    /// </summary>
    public static readonly TimeSpan MinimumWindow = TimeSpan.FromSeconds(1);

    private const int MaxSamples = 16;

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, List<IoSample>> _volumes = new(StringComparer.Ordinal);

    /// <summary>
    /// Takes the counters of every target <paramref name="node"/> reports serving, and forgets the volumes it served
    /// and no longer does. A sample of another instance (a new epoch, another node) starts the volume's series again;
    /// one of an older instance than the series' (a late report) is dropped.
    /// </summary>
    public void Record(string node, NodeReport report)
    {
        var now = _clock.GetUtcNow();
        lock (_volumes)
        {
            var serving = new HashSet<string>(StringComparer.Ordinal);
            foreach (var target in report.Targets)
            {
                if (!target.Ready || target.Io is not { } io)
                {
                    continue;
                }

                serving.Add(target.Volume);
                var sample = new IoSample(node, target.Epoch, io, now);
                if (!_volumes.TryGetValue(target.Volume, out var series) || !SameInstance(series[^1], sample))
                {
                    if (series is not null && series[^1].Epoch > sample.Epoch)
                    {
                        continue;
                    }

                    _volumes[target.Volume] = [sample];
                    continue;
                }

                Add(series, sample);
            }

            foreach (string gone in _volumes.Where(kv => kv.Value[^1].Node == node && !serving.Contains(kv.Key)).Select(kv => kv.Key).ToList())
            {
                _volumes.Remove(gone);
            }
        }
    }

    /// <summary>The volume's latest sample and the one to take rates from (the same one when there is only one), or null.</summary>
    public IoWindow? Window(string volume)
    {
        lock (_volumes)
        {
            if (!_volumes.TryGetValue(volume, out var series))
            {
                return null;
            }

            var latest = series[^1];
            double minimum = latest.Counters.Seconds - MinimumWindow.TotalSeconds;
            var baseline = series.LastOrDefault(s => s.Counters.Seconds <= minimum) ?? series[0];
            return new IoWindow(baseline, latest);
        }
    }

    private static bool SameInstance(IoSample a, IoSample b) => a.Node == b.Node && a.Epoch == b.Epoch && a.Counters.Seconds <= b.Counters.Seconds;

    /// <summary>Appends, keeping the newest sample at least <see cref="MinimumWindow"/> older than the latest and those after it.</summary>
    private static void Add(List<IoSample> series, IoSample sample)
    {
        if (series[^1].Counters.Seconds == sample.Counters.Seconds)
        {
            series[^1] = sample; // the same counters sent again
            return;
        }

        series.Add(sample);
        double minimum = sample.Counters.Seconds - MinimumWindow.TotalSeconds;
        while (series.Count > MaxSamples || series.Count > 2 && series[1].Counters.Seconds <= minimum)
        {
            series.RemoveAt(0);
        }
    }
}

/// <summary>One report of a target instance's counters: its node and epoch, and when the control plane had it.</summary>
public sealed record IoSample(string Node, long Epoch, IoCounters Counters, DateTimeOffset ReceivedAt);

/// <summary>Two samples of one target instance, <see cref="Baseline"/> no later than <see cref="Latest"/>.</summary>
public sealed record IoWindow(IoSample Baseline, IoSample Latest)
{
    /// <summary>The rates between the two; null while there is only one sample.</summary>
    public IoRates? Rates => ReferenceEquals(Baseline, Latest) ? null : IoRates.Between(Baseline.Counters, Latest.Counters);
}
