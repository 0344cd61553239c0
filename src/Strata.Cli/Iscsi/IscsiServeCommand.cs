using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Cli.Iscsi;

/// <summary><c>strata iscsi serve</c>: exports a file or block device as LUN 0 of one iSCSI target.</summary>
internal static class IscsiServeCommand
{
    public static Command Create()
    {
        var file = new Option<FileInfo>("--file") { Description = "The file or block device to export (created sparse when --size is given and it does not exist).", Required = true };
        var size = new Option<string?>("--size") { Description = "Size of the file, e.g. 1G, 512M; grows a smaller file (sparse)." };
        var blockSize = new Option<int>("--block-size") { Description = "Logical block size: 512 or 4096.", DefaultValueFactory = _ => 512 };
        var iqn = new Option<string?>("--iqn") { Description = "Target name (default iqn.2026-11.io.strata:<file name>)." };
        var portal = new Option<string>("--portal") { Description = "Address and port to listen on.", DefaultValueFactory = _ => "127.0.0.1:3260" };
        var chapUser = new Option<string?>("--chap-user") { Description = "Require initiators to authenticate with CHAP as this user." };
        var chapSecret = new Option<string?>("--chap-secret") { Description = "The CHAP secret initiators must know (12 to 16 bytes are usual)." };
        var mutualUser = new Option<string?>("--mutual-chap-user") { Description = "The user name the target answers mutual CHAP with." };
        var mutualSecret = new Option<string?>("--mutual-chap-secret") { Description = "The secret the target answers mutual CHAP with." };
        var allow = new Option<string[]>("--allow-initiator") { Description = "Only these initiator names may log in (repeatable); default: any.", AllowMultipleArgumentsPerToken = true };
        var direct = new Option<bool>("--direct") { Description = "Open the file with O_DIRECT, bypassing the page cache." };

        var command = new Command("serve", "Export a file or block device as LUN 0 of an iSCSI target, until stopped (SIGTERM or Ctrl-C).")
        {
            file, size, blockSize, iqn, portal, chapUser, chapSecret, mutualUser, mutualSecret, allow, direct,
        };

        command.SetAction(async (parse, ct) =>
        {
            if (Validate(parse) is { } problem)
            {
                Console.Error.WriteLine($"strata: {problem}");
                return 2;
            }

            var path = parse.GetValue(file)!.FullName;
            long? bytes = parse.GetValue(size) is { } s && ByteSize.TryParse(s, out long b) ? b : null;
            var settings = new ServeSettings(
                path,
                bytes,
                parse.GetValue(blockSize),
                parse.GetValue(iqn) ?? DefaultIqn(path),
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
        string Path, long? Size, int BlockSize, string Iqn, IPEndPoint Portal,
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
        FileBlockDevice device;
        try
        {
            device = FileBlockDevice.Open(s.Path, s.Size, s.BlockSize, s.Direct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"strata: cannot open {s.Path}: {e.Message}");
            return 1;
        }

        await using var _ = device;
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
        // The volume's identity (NAA designator, serial number) derives from the file's full path: stable
        // across restarts, different per file.
        using var allocationMap = IsRegularFile(s.Path) ? new SparseFileAllocationMap(s.Path, device.BlockSize) : null;
        var unit = new BlockLogicalUnit(device, new LogicalUnitIdentity(s.Path), allocationMap);
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
        Console.WriteLine($"strata: serving {s.Iqn} LUN 0 ({s.Path}, {ByteSize.Format(device.BlockCount * device.BlockSize)}, {device.BlockSize}-byte blocks) on {server.LocalEndPoint}");
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
}
