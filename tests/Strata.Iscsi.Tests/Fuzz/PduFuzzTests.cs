using System.Diagnostics;
using System.Net;
using Strata.Blocks;
using Strata.Iscsi.Target;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// Attacks the iSCSI target with malformed and mutated PDUs over many connections while a well-behaved session
/// writes and verifies data beside them. The target must never fail inside (no "internal error" in its log, no
/// unobserved task exception), never hang (every connection answers a ping or closes within the deadline),
/// keep its memory bounded, and the honest session must see no error and no wrong byte.
/// Replay a failure with the environment variables <see cref="FuzzSeed"/> describes.
/// </summary>
[Collection(nameof(ProcessWideMeasurement))] // it measures the heap and the working set of the whole process
public sealed class PduFuzzTests(ITestOutputHelper output)
{
    private const int Workers = 8;

    /// <summary>The portal's task buffer budget in this run: what all fuzzed commands together may pin.</summary>
    private const long TaskBufferBudget = 256L << 20;

    /// <summary>What the managed heap may keep after the run besides the shared buffer pool's cache: the target's
    /// and the test's small leftovers, no task, session or connection.</summary>
    private const long NonPoolGrowthBound = 128L << 20;

    /// <summary>The process's peak working set growth: task buffers (the budget), the buffer pool's cache of
    /// them (see the report: PinnedBufferPool keeps up to 256 arrays per size), the test itself.</summary>
    private const long WorkingSetBound = 3L << 30;

    /// <summary>Bytes the shared <see cref="PinnedBufferPool"/> keeps for reuse.</summary>
    private static long PooledBytes() => PinnedBufferPool.Shared.CachedBytes;

    [Fact]
    public async Task The_target_survives_malformed_PDUs_and_keeps_serving_a_well_behaved_session()
    {
        var unobserved = new List<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) =>
        {
            lock (unobserved)
            {
                unobserved.Add(e.Exception);
            }
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await RunAsync(unobserved);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    private async Task RunAsync(List<Exception> unobserved)
    {
        await using var target = FuzzTarget.Start(log => new IscsiTargetOptions
        {
            Portal = new IPEndPoint(IPAddress.Loopback, 0),
            Log = log,
            NopInInterval = TimeSpan.FromSeconds(5),
            NopInTimeout = TimeSpan.FromSeconds(10),
            LoginTimeout = TimeSpan.FromSeconds(10),
            MaxTaskBufferBytesPerSession = 64L << 20,
            MaxTaskBufferBytes = TaskBufferBudget,
        });
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long workingSetBefore = Environment.WorkingSet;
        var run = new FuzzRun();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();

        var verifier = new VerifiedSession(target, FuzzSeed.Seed);
        var verifying = verifier.RunAsync(stop.Token);
        long peakWorkingSet = 0;
        long peakTaskBuffers = 0;
        var sampling = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peakWorkingSet = Math.Max(peakWorkingSet, Environment.WorkingSet);
                peakTaskBuffers = Math.Max(peakTaskBuffers, target.Server.Sessions.BufferBudget.Used);
                await Task.Delay(50);
            }
        });

        int nextEpisode = -1;
        FuzzFailure? failure = null;
        async Task WorkerAsync()
        {
            while (failure is null && run.Pdus < FuzzSeed.PduBudget)
            {
                int episode = FuzzSeed.Episode ?? Interlocked.Increment(ref nextEpisode);
                try
                {
                    await new FuzzEpisode(episode, target, run).RunAsync();
                }
                catch (FuzzFailure e)
                {
                    failure ??= e;
                }

                if (FuzzSeed.Episode is not null)
                {
                    return;
                }
            }
        }

        var workers = Enumerable.Range(0, FuzzSeed.Episode is null ? Workers : 1).Select(_ => Task.Run(WorkerAsync)).ToArray();
        await Task.WhenAll(workers);
        var fuzzTime = clock.Elapsed;
        await stop.CancelAsync();
        await sampling;
        var verified = await verifying;

        output.WriteLine($"seed {FuzzSeed.Seed}: {run.Pdus} fuzzed PDUs in {nextEpisode + 1} connections, {fuzzTime.TotalSeconds:0.0} s");
        output.WriteLine($"well-behaved session: {verified}");
        foreach (var (what, n) in run.Counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {n,8}  {what}");
        }

        if (failure is not null)
        {
            throw failure;
        }

        Assert.True(verifier.Error is null, $"the well-behaved session saw an error (seed {FuzzSeed.Seed}): {verifier.Error}");
        Assert.True(target.Failures().Length == 0, $"the target failed inside (seed {FuzzSeed.Seed}):\n{string.Join("\n", target.Failures().Take(10))}");
        if (FuzzSeed.Episode is null)
        {
            Assert.True(run.Pdus >= FuzzSeed.PduBudget, $"only {run.Pdus} PDUs were sent");
        }

        // Every connection is gone, and its session with it: the target ends them as soon as the other side does;
        // the deadline is only a safety net.
        var settle = Stopwatch.StartNew();
        while ((target.Server.ConnectionCount > 0 || target.Server.SessionCount > 0) && settle.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100);
        }

        Assert.True(target.Server.ConnectionCount == 0 && target.Server.SessionCount == 0, $"{target.Server.ConnectionCount} connections and {target.Server.SessionCount} sessions still open 60 s after the last fuzzer and the well-behaved session disconnected");

        // Memory: task buffers in use never passed the budget; once everything closed, they are all credited
        // back, and the heap holds nothing more than what the shared buffer pool keeps for reuse (no connection
        // lingers: Regressions/ConnectionRetentionTests).
        long managedAfter = GC.GetTotalMemory(forceFullCollection: true);
        long pooled = PooledBytes();
        output.WriteLine($"task buffers: peak {peakTaskBuffers >> 20} MiB of a {TaskBufferBudget >> 20} MiB budget, {target.Server.Sessions.BufferBudget.Used} bytes at the end");
        output.WriteLine($"managed heap {managedBefore >> 20} MiB -> {managedAfter >> 20} MiB, of which {pooled >> 20} MiB kept by the shared buffer pool; working set {workingSetBefore >> 20} MiB, peak {peakWorkingSet >> 20} MiB");
        Assert.True(peakTaskBuffers <= TaskBufferBudget, $"task buffers reached {peakTaskBuffers >> 20} MiB");
        Assert.Equal(0, target.Server.Sessions.BufferBudget.Used);
        Assert.True(managedAfter - managedBefore - pooled < NonPoolGrowthBound, $"the managed heap grew by {(managedAfter - managedBefore - pooled) >> 20} MiB besides the buffer pool");
        Assert.True(peakWorkingSet - workingSetBefore < WorkingSetBound, $"the working set grew by {(peakWorkingSet - workingSetBefore) >> 20} MiB");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        lock (unobserved)
        {
            Assert.True(unobserved.Count == 0, $"unobserved task exceptions:\n{string.Join("\n", unobserved.Take(3))}");
        }
    }
}
