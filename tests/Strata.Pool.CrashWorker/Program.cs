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
await CrashWorkload.RunAsync(pool, seed, output.WriteLine);
return 0;
