using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;
using Strata.Cli.Pool;
using Strata.Node.Hosting;
using Strata.Pool;

namespace Strata.Cli.Iscsi;

/// <summary><c>strata iscsi serve</c>: exports a file, a block device or a pool volume as LUN 0 of one iSCSI target.</summary>
internal static class IscsiServeCommand
{
    public static Command Create()
    {
        var file = new Option<FileInfo?>("--file") { Description = "The file or block device to export (created sparse when --size is given and it does not exist)." };
        var pool = PoolArguments.PoolOption("Export a volume of this pool instead: its vdevs, comma-separated or repeated.");
        pool.Required = false;
        var volume = new Option<string?>("--volume") { Description = "The pool volume to export (with --pool)." };
        var size = new Option<string?>("--size") { Description = "Size of the file, e.g. 1G, 512M; grows a smaller file (sparse)." };
        var blockSize = new Option<int>("--block-size") { Description = "Logical block size of a --file: 512 or 4096 (a pool volume has its own).", DefaultValueFactory = _ => 512 };
        var iqn = new Option<string?>("--iqn") { Description = "Target name (default iqn.2026-11.io.strata:<file name>)." };
        var portal = new Option<string>("--portal") { Description = "Address and port to listen on.", DefaultValueFactory = _ => "127.0.0.1:3260" };
        var chapUser = new Option<string?>("--chap-user") { Description = "Require initiators to authenticate with CHAP as this user." };
        var chapSecret = new Option<string?>("--chap-secret") { Description = "The CHAP secret initiators must know (12 to 16 bytes are usual)." };
        var mutualUser = new Option<string?>("--mutual-chap-user") { Description = "The user name the target answers mutual CHAP with." };
        var mutualSecret = new Option<string?>("--mutual-chap-secret") { Description = "The secret the target answers mutual CHAP with." };
        var allow = new Option<string[]>("--allow-initiator") { Description = "Only these initiator names may log in (repeatable); default: any.", AllowMultipleArgumentsPerToken = true };
        var direct = new Option<bool>("--direct") { Description = "Open the file with O_DIRECT, bypassing the page cache." };

        var command = new Command("serve", "Export a file, block device or pool volume as LUN 0 of an iSCSI target, until stopped (SIGTERM or Ctrl-C).")
        {
            file, pool, volume, size, blockSize, iqn, portal, chapUser, chapSecret, mutualUser, mutualSecret, allow, direct,
        };

        command.SetAction(async (parse, ct) =>
        {
            if (Validate(parse) is { } problem)
            {
                Console.Error.WriteLine($"strata: {problem}");
                return 2;
            }

            var path = parse.GetValue(file)?.FullName;
            var poolPaths = parse.GetValue(pool) is { Length: > 0 } given ? given : null;
            string? volumeName = parse.GetValue(volume);
            long? bytes = parse.GetValue(size) is { } s && ByteSize.TryParse(s, out long b) ? b : null;
            var settings = new ServeSettings(
                path,
                poolPaths,
                volumeName,
                bytes,
                parse.GetValue(blockSize),
                parse.GetValue(iqn) ?? DefaultIqn(path ?? volumeName!),
                IPEndPoint.Parse(parse.GetValue(portal)!),
                parse.GetValue(chapUser) is { } u ? new ChapCredentials(u, parse.GetValue(chapSecret)!) : null,
                parse.GetValue(mutualUser) is { } mu ? new ChapCredentials(mu, parse.GetValue(mutualSecret)!) : null,
                parse.GetValue(allow) ?? [],
                parse.GetValue(direct));
            return await ServeAsync(settings, ct);
        });
        return command;
    }

    /// <summary>The first thing wrong with the arguments, as one line; null when they are fine.</summary>
    private static string? Validate(ParseResult parse)
    {
        string? Value(string name) => parse.GetValue<string?>(name);
        bool isFile = parse.GetValue<FileInfo?>("--file") is not null;
        bool isPool = parse.GetValue<string[]?>("--pool") is { Length: > 0 };
        if (isFile == isPool)
        {
            return "give either --file, or --pool with --volume";
        }

        if (isPool && Value("--volume") is null)
        {
            return "--pool needs --volume: the volume to export";
        }

        if (isPool && Value("--size") is not null)
        {
            return "--size is for --file; a pool volume has its own size (strata pool grow changes it)";
        }

        if (Value("--size") is { } s && !ByteSize.TryParse(s, out _))
        {
            return $"--size: '{s}' is not a size (examples: 1G, 512M, 1048576)";
        }

        if (parse.GetValue<int>("--block-size") is not (512 or 4096))
        {
            return $"--block-size must be 512 or 4096, not {parse.GetValue<int>("--block-size")}";
        }

        string portal = Value("--portal") ?? string.Empty;
        if (!IPEndPoint.TryParse(portal, out var endPoint) || (endPoint.Port == 0 && !portal.EndsWith(":0", StringComparison.Ordinal)))
        {
            return $"--portal: '{portal}' is not an address:port such as 127.0.0.1:3260";
        }

        if ((Value("--chap-user") is null) != (Value("--chap-secret") is null))
        {
            return "--chap-user and --chap-secret go together";
        }

        if ((Value("--mutual-chap-user") is null) != (Value("--mutual-chap-secret") is null))
        {
            return "--mutual-chap-user and --mutual-chap-secret go together";
        }

        if (Value("--mutual-chap-user") is not null && Value("--chap-user") is null)
        {
            return "mutual CHAP needs --chap-user and --chap-secret too";
        }

        return null;
    }

    private sealed record ServeSettings(
        string? Path, string[]? Pool, string? Volume, long? Size, int BlockSize, string Iqn, IPEndPoint Portal,
        ChapCredentials? Chap, ChapCredentials? MutualChap, string[] AllowedInitiators, bool Direct);

    internal static string DefaultIqn(string path)
    {
        string name = System.IO.Path.GetFileNameWithoutExtension(path).ToLowerInvariant();
        var clean = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-').ToArray());
        return $"iqn.2026-11.io.strata:{(clean.Length == 0 ? "lun" : clean)}";
    }

    private static bool IsRegularFile(string path) =>
        (File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) == 0 && !path.StartsWith("/dev/", StringComparison.Ordinal);

    private static async Task<int> ServeAsync(ServeSettings s, CancellationToken ct)
    {
        var export = s.Pool is null ? OpenFile(s) : await OpenPoolVolumeAsync(s);
        if (export is null)
        {
            return 1;
        }

        await using var _ = export;
        var device = export.Device;
        var policy = new TargetLoginPolicy
        {
            Name = s.Iqn,
            Chap = s.Chap,
            MutualChap = s.MutualChap,
            AllowedInitiators = s.AllowedInitiators,
            Portals = [($"{s.Portal.Address}:{s.Portal.Port}", 1)],
        };
        var options = new IscsiTargetOptions
        {
            Portal = s.Portal,
            Log = message => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {message}"),
        };

        var server = new IscsiTargetServer(options);
        var unit = new BlockLogicalUnit(device, export.Identity, export.AllocationMap);
        server.AddTarget(new IscsiTarget(policy, new ScsiTargetDevice([(0UL, unit)])));
        try
        {
            server.Start();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            Console.Error.WriteLine($"strata: cannot listen on {s.Portal}: {e.Message}");
            return 1;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        Console.WriteLine($"strata: serving {s.Iqn} LUN 0 ({export.Description}, {ByteSize.Format(device.BlockCount * device.BlockSize)}, {device.BlockSize}-byte blocks) on {server.LocalEndPoint}");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        Console.Error.WriteLine("strata: stopping");
        await server.DisposeAsync();
        await device.FlushAsync(CancellationToken.None);
        return 0;
    }

    private static Export? OpenFile(ServeSettings s)
    {
        try
        {
            var device = FileBlockDevice.Open(s.Path!, s.Size, s.BlockSize, s.Direct);
            // The volume's identity (NAA designator, serial number) derives from the file's full path: stable
            // across restarts, different per file.
            var map = IsRegularFile(s.Path!) ? new SparseFileAllocationMap(s.Path!, device.BlockSize) : null;
            return new Export(device, new LogicalUnitIdentity(s.Path!), map, s.Path!, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"strata: cannot open {s.Path}: {e.Message}");
            return null;
        }
    }

    private static async Task<Export?> OpenPoolVolumeAsync(ServeSettings s)
    {
        StoragePool pool;
        try
        {
            pool = await StoragePool.OpenAsync(s.Pool!);
        }
        catch (PoolException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return null;
        }

        try
        {
            var volume = pool.OpenVolume(s.Volume!); // its block size is the volume's own, set at creation

            // Identity from the pool's UUID and the volume's name: stable across restarts and hosts.
            return new Export(volume, new LogicalUnitIdentity($"{pool.Id}/{volume.Name}"), null, $"volume '{volume.Name}' of pool '{pool.Name}'", pool);
        }
        catch (PoolException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            await pool.DisposeAsync();
            return null;
        }
    }

    /// <summary>What is served, and what closes with it (a pool volume's pool closes cleanly after it).</summary>
    private sealed record Export(IBlockDevice Device, LogicalUnitIdentity Identity, IAllocationMap? AllocationMap, string Description, StoragePool? Pool) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Device.DisposeAsync();
            (AllocationMap as IDisposable)?.Dispose();
            if (Pool is not null)
            {
                await Pool.DisposeAsync();
            }
        }
    }
}
