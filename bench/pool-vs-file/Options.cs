using System.Globalization;

namespace Strata.Bench.PoolVsFile;

/// <summary>The command line (see <see cref="Usage"/>).</summary>
internal sealed class Options
{
    public const string Usage = """
        usage: bench/pool-vs-file/run [options]
          --seconds N            timed seconds per measurement (default 10)
          --warmup N             seconds of the same workload before the timing starts (default 1)
          --runs N               measure every cell N times, raw and pool taking turns, and report the median (default 1)
          --rows LIST            which of rows 1-4 to run, e.g. 1,2 (default 1,2,3,4)
          --dir DIR              where the files go: a new directory is made inside DIR and removed at the end
                                 (default: $TMPDIR or /var/tmp; use a directory on a real disk, not tmpfs)
          --chunk-kib N          the pool's chunk size in KiB (default 64)
          --block-size N         logical block size of both devices, 512 or 4096 (default 4096)
          --region-mib N         the region rows 1-2 overwrite and read, written fully once first (default 1024)
          --fresh-gib N          fresh space for row 3 (random first writes, one per chunk-sized slot) (default 64)
          --seq-gib N            fresh space for row 4 (sequential first writes) on each side, all runs together (default 12)
          --snapshot-gib N       GiB written into the volume before the snapshots are timed (default 10)
          --snapshot-volume-gib N  the volume's size (default 100)
          --snapshot-vdev-gib N  the snapshot pool's sparse vdev (default 120)
          --snapshots N          snapshots timed (default 5)
          --skip-snapshot        do not run the snapshot part
          --skip-rows            run only the snapshot part
          -h, --help             this text
        Sparse files take only the space written: about 2 x region + 2 x what row 4 writes in its time (bounded by
        --seq-gib) for rows 1-4, then --snapshot-gib for the snapshot part; the files are deleted between the parts.
        """;

    public double Seconds { get; private set; } = 10;

    public double Warmup { get; private set; } = 1;

    public int Runs { get; private set; } = 1;

    public IReadOnlyList<int> Rows { get; private set; } = [1, 2, 3, 4];

    public string Dir { get; private set; } = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : "/var/tmp";

    public int ChunkKiB { get; private set; } = 64;

    public int BlockSize { get; private set; } = 4096;

    public long RegionMiB { get; private set; } = 1024;

    public long FreshGiB { get; private set; } = 64;

    public long SeqGiB { get; private set; } = 12;

    public double SnapshotGiB { get; private set; } = 10;

    public long SnapshotVolumeGiB { get; private set; } = 100;

    public long SnapshotVdevGiB { get; private set; } = 120;

    public int Snapshots { get; private set; } = 5;

    public bool SkipSnapshot { get; private set; }

    public bool SkipRows { get; private set; }

    public bool Help { get; private set; }

    /// <summary>Parses <c>--name value</c> and <c>--name=value</c>; throws <see cref="ArgumentException"/> with the reason.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string? inline = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (name.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Length)
                {
                    throw new ArgumentException($"{name} needs a value");
                }

                return args[++i];
            }

            double Number(double min)
            {
                string v = Value();
                if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || d < min)
                {
                    throw new ArgumentException($"{name} wants a number of at least {min}, not '{v}'");
                }

                return d;
            }

            switch (name)
            {
                case "--seconds": o.Seconds = Number(0.1); break;
                case "--warmup": o.Warmup = Number(0); break;
                case "--runs": o.Runs = (int)Number(1); break;
                case "--rows":
                    var rows = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    o.Rows = rows.Select(r => int.TryParse(r, out int n) && n is >= 1 and <= 4 ? n : throw new ArgumentException($"--rows: '{r}' is not one of 1, 2, 3, 4"))
                        .Distinct().Order().ToArray();
                    break;
                case "--dir": o.Dir = Value(); break;
                case "--chunk-kib":
                    o.ChunkKiB = (int)Number(4);
                    if ((o.ChunkKiB & (o.ChunkKiB - 1)) != 0 || o.ChunkKiB > 1024)
                    {
                        throw new ArgumentException("--chunk-kib must be a power of two from 4 to 1024");
                    }

                    break;
                case "--block-size":
                    o.BlockSize = (int)Number(512);
                    if (o.BlockSize is not (512 or 4096))
                    {
                        throw new ArgumentException("--block-size must be 512 or 4096");
                    }

                    break;
                case "--region-mib": o.RegionMiB = (long)Number(1); break;
                case "--fresh-gib": o.FreshGiB = (long)Number(1); break;
                case "--seq-gib": o.SeqGiB = (long)Number(1); break;
                case "--snapshot-gib": o.SnapshotGiB = Number(0); break;
                case "--snapshot-volume-gib": o.SnapshotVolumeGiB = (long)Number(1); break;
                case "--snapshot-vdev-gib": o.SnapshotVdevGiB = (long)Number(1); break;
                case "--snapshots": o.Snapshots = (int)Number(1); break;
                case "--skip-snapshot": o.SkipSnapshot = true; break;
                case "--skip-rows": o.SkipRows = true; break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        if (o.SnapshotGiB > o.SnapshotVolumeGiB)
        {
            throw new ArgumentException($"--snapshot-gib {o.SnapshotGiB} does not fit in the {o.SnapshotVolumeGiB} GiB volume");
        }

        if (o.SnapshotGiB >= o.SnapshotVdevGiB)
        {
            throw new ArgumentException("--snapshot-vdev-gib must be larger than --snapshot-gib (the vdev also holds the metadata ring)");
        }

        if (o.RegionMiB * 1024 % o.ChunkKiB != 0)
        {
            throw new ArgumentException("--region-mib must be a whole number of chunks");
        }

        return o;
    }
}
