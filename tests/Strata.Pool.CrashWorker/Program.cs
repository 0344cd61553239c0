using Strata.Blocks;
using Strata.Pool;
using Strata.Pool.CrashWorker;

// strata-pool-crash-worker SEED LAYOUT VDEV... : opens the pool (creating it and its volume if the first vdev is
// missing) and runs batches of the seed's workload until killed. Each line on stdout is a promise the test checks:
//   ready                the pool and volume are open
//   fua B I              op I of batch B (a FUA write) completed
//   durable B            batch B was flushed: all of it survives
//   snapshot B / deleted B   snapshot bB exists / was deleted (both committed)
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: Strata.Pool.CrashWorker SEED striped|mirrored VDEV...");
    return 2;
}

int seed = int.Parse(args[0]);
var layout = Enum.Parse<PoolLayout>(args[1], ignoreCase: true);
var paths = args[2..];
var output = TextWriter.Synchronized(new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true });

var pool = File.Exists(paths[0])
    ? await StoragePool.OpenAsync(paths)
    : await StoragePool.CreateAsync(new PoolCreateOptions
    {
        Name = "crash",
        Layout = layout,
        ChunkSize = CrashWorkload.ChunkSize,
        MetadataBytes = 512 * 1024,
        Vdevs = paths.Select(p => new VdevSpec(p, CrashWorkload.VdevBytes)).ToArray(),
    });
if (pool.FindVolume(CrashWorkload.Volume) is null)
{
    await pool.CreateVolumeAsync(CrashWorkload.Volume, CrashWorkload.VolumeBytes, CrashWorkload.BlockSize);
}

var volume = pool.OpenVolume(CrashWorkload.Volume);
output.WriteLine("ready");
var snapshots = new Queue<int>();
for (int batch = 1; ; batch++)
{
    var ops = CrashWorkload.Batch(seed, batch);
    var tasks = new List<Task>();
    for (int i = 0; i < ops.Count; i++)
    {
        tasks.Add(RunAsync(batch, i, ops[i]));
    }

    await Task.WhenAll(tasks);
    await volume.FlushAsync();
    output.WriteLine($"durable {batch}");
    if (batch % CrashWorkload.SnapshotEvery == 0)
    {
        await pool.SnapshotAsync(CrashWorkload.Volume, CrashWorkload.SnapshotName(batch));
        output.WriteLine($"snapshot {batch}");
        snapshots.Enqueue(batch);
        if (snapshots.Count > 2)
        {
            int old = snapshots.Dequeue();
            await pool.DeleteAsync($"{CrashWorkload.Volume}@{CrashWorkload.SnapshotName(old)}");
            output.WriteLine($"deleted {old}");
        }
    }
}

async Task RunAsync(int batch, int index, WorkloadOp op)
{
    await Task.Yield();
    if (op.Unmap)
    {
        await volume.UnmapAsync(op.Lba, op.Blocks);
        return;
    }

    var data = new byte[op.Blocks * CrashWorkload.BlockSize];
    for (int b = 0; b < op.Blocks; b++)
    {
        CrashWorkload.Fill(data.AsSpan(b * CrashWorkload.BlockSize, CrashWorkload.BlockSize), seed, batch, index, op.Lba + b);
    }

    await volume.WriteAsync(op.Lba, data, op.Fua ? WriteFlags.Fua : WriteFlags.None);
    if (op.Fua)
    {
        output.WriteLine($"fua {batch} {index}");
    }
}
