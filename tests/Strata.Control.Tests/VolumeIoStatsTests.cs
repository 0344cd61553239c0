using Strata.Control.Nodes;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>A served volume's I/O as the control plane keeps it: the node's cumulative samples, and the rates between two.</summary>
public sealed class VolumeIoStatsTests
{
    /// <summary>Counters after <paramref name="seconds"/>: <paramref name="writes"/> 4 KiB writes of 0.5 ms each, and reads half as many, of 1 ms each.</summary>
    internal static IoCounters Sample(double seconds, long writes, long errors = 0) => new(
        seconds,
        new IoOpCounts(writes / 2, writes / 2 * 8192, writes / 2 * 0.001),
        new IoOpCounts(writes, writes * 4096, writes * 0.0005),
        new IoOpCounts(writes / 100, 0, 0),
        new IoOpCounts(0, 0, 0),
        errors);

    private static NodeReport Serving(string volume, long epoch, IoCounters io) =>
        new([], [], [new TargetReport(volume, true, "127.0.0.1:3260", null, epoch, null, io)], null);

    [Fact]
    public void Rates_are_the_counters_difference_over_the_time_between_the_samples()
    {
        var rates = IoRates.Between(Sample(10, 1000), Sample(12, 1400))!;
        Assert.Equal(2, rates.Seconds);
        Assert.Equal(200, rates.Writes.PerSecond);
        Assert.Equal(200 * 4096, rates.Writes.BytesPerSecond);
        Assert.Equal(0.5, rates.Writes.AverageMilliseconds, 9);
        Assert.Equal(100, rates.Reads.PerSecond);
        Assert.Equal(100 * 8192, rates.Reads.BytesPerSecond);
        Assert.Equal(1, rates.Reads.AverageMilliseconds, 9);
        Assert.Equal(2, rates.Flushes.PerSecond);
        Assert.Equal(new IoOpRate(0, 0, 0), rates.Unmaps);
    }

    [Fact]
    public void Samples_that_make_no_window_give_no_rates()
    {
        Assert.Null(IoRates.Between(Sample(12, 1400), Sample(12, 1400)));
        Assert.Null(IoRates.Between(Sample(12, 1400), Sample(10, 1000)));
        Assert.Null(IoRates.Between(Sample(10, 1400), Sample(12, 1000))); // a counter went back: another instance's
        Assert.Equal(new IoOpRate(0, 0, 0), IoRates.Between(Sample(10, 1000), Sample(15, 1000))!.Writes);
    }

    [Fact]
    public void The_window_reaches_back_at_least_a_second_when_reports_come_closer()
    {
        var samples = new VolumeIoSamples();
        Assert.Null(samples.Window("pvc-1"));
        samples.Record("node-a", Serving("pvc-1", 1, Sample(10, 0)));
        Assert.Null(samples.Window("pvc-1")!.Rates); // one sample: totals, no rates yet

        samples.Record("node-a", Serving("pvc-1", 1, Sample(10.4, 40)));
        samples.Record("node-a", Serving("pvc-1", 1, Sample(10.8, 80)));
        Assert.Equal(0.8, samples.Window("pvc-1")!.Rates!.Seconds, 9); // nothing a second older: the oldest
        samples.Record("node-a", Serving("pvc-1", 1, Sample(11.2, 120)));
        samples.Record("node-a", Serving("pvc-1", 1, Sample(11.6, 160)));
        var window = samples.Window("pvc-1")!;
        Assert.Equal(10.4, window.Baseline.Counters.Seconds, 9); // the newest at least a second older than 11.6
        Assert.Equal(100, window.Rates!.Writes.PerSecond, 9);
        Assert.Equal(160, window.Latest.Counters.Writes.Count);
    }

    [Fact]
    public void A_new_target_instance_starts_over_a_late_report_of_the_old_one_is_dropped_and_a_stopped_one_is_forgotten()
    {
        var samples = new VolumeIoSamples();
        samples.Record("node-a", Serving("pvc-1", 1, Sample(10, 1000)));
        samples.Record("node-a", Serving("pvc-1", 1, Sample(15, 2000)));
        samples.Record("node-b", Serving("pvc-1", 2, Sample(1, 10))); // moved: epoch 2 on node-b
        var window = samples.Window("pvc-1")!;
        Assert.Equal(("node-b", 2L), (window.Latest.Node, window.Latest.Epoch));
        Assert.Null(window.Rates);

        samples.Record("node-a", Serving("pvc-1", 1, Sample(20, 3000))); // the old instance, late
        samples.Record("node-a", new NodeReport([], [], [], null)); // node-a serves nothing: not node-a's to forget
        Assert.Equal("node-b", samples.Window("pvc-1")!.Latest.Node);

        samples.Record("node-b", new NodeReport([], [], [new TargetReport("pvc-1", false, "127.0.0.1:3260", "fenced")], null));
        Assert.Null(samples.Window("pvc-1"));
    }
}
