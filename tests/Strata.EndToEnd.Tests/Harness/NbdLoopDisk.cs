namespace Strata.EndToEnd.Tests.Harness;

/// <summary>An iSCSI LUN as a Linux block device, all in user space:
/// qemu-nbd (libiscsi) -> nbdfuse (the NBD export as a file) -> losetup. Disposing tears it down in the only
/// safe order (umount, losetup -d, fusermount -u, qemu-nbd), whatever state it is in.</summary>
public sealed class NbdLoopDisk : IAsyncDisposable
{
    private static readonly TimeSpan s_step = TimeSpan.FromSeconds(60);
    private readonly Action<string> _log;
    private readonly string _socket;
    private readonly string _fuseDir;
    private QemuNbd? _qemuNbd;
    private BackgroundProcess? _nbdfuse;

    private NbdLoopDisk(string dir, Action<string> log)
    {
        _log = log;
        _socket = Path.Combine(dir, "nbd.sock");
        _fuseDir = Path.Combine(dir, "nbd");
        MountPoint = Path.Combine(dir, "fs");
        Directory.CreateDirectory(_fuseDir);
        Directory.CreateDirectory(MountPoint);
    }

    public string? Device { get; private set; }
    public string MountPoint { get; }
    public bool Mounted { get; private set; }
    public string FuseFile => Path.Combine(_fuseDir, "disk");

    public static async Task<NbdLoopDisk> AttachAsync(string iscsiUrl, string dir, Action<string> log)
    {
        Libc.RequireRoot("a loop device on a FUSE file");
        var disk = new NbdLoopDisk(dir, log);
        try
        {
            await disk.AttachAsync(iscsiUrl);
        }
        catch
        {
            await disk.DisposeAsync();
            throw;
        }
        return disk;
    }

    private async Task AttachAsync(string url)
    {
        var q = _qemuNbd = await QemuNbd.StartAsync(url, _socket, _log);
        _nbdfuse = Tool.Start("nbdfuse", "nbdfuse", [FuseFile, $"nbd+unix:///?socket={_socket}"], log: _log);
        var f = _nbdfuse;
        await Wait.UntilAsync(() =>
            {
                if (f.HasExited) throw new InvalidOperationException($"nbdfuse exited:\n{f.Describe()}");
                return IsMountPoint(_fuseDir) && File.Exists(FuseFile) && new FileInfo(FuseFile).Length > 0;
            }, s_step, "nbdfuse to show the LUN as a file", () => f.Describe() + "\n" + q.Describe());

        Device = (await Tool.RunCheckedAsync("losetup", ["-f", "--show", FuseFile], s_step, log: _log)).Stdout.Trim();
        _log($"LUN attached as {Device}");
    }

    public string Describe() => $"{_qemuNbd?.Describe()}\n{_nbdfuse?.Describe()}";

    public Task MkfsExt4Async() =>
        Tool.RunCheckedAsync("mkfs.ext4", ["-F", "-q", "-E", "discard", Dev], TimeSpan.FromMinutes(5), log: _log);

    public async Task MountAsync()
    {
        await Tool.RunCheckedAsync("mount", ["-t", "ext4", Dev, MountPoint], s_step, log: _log);
        Mounted = true;
    }

    public async Task UnmountAsync()
    {
        await Tool.RunCheckedAsync("umount", [MountPoint], s_step, log: _log);
        Mounted = false;
    }

    /// <summary>So that the next reads come from the target, not from a cache of this machine.</summary>
    public async Task DropCachesAsync()
    {
        await Tool.RunCheckedAsync("blockdev", ["--flushbufs", Dev], s_step, log: _log);
        await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3");
    }

    public Task<ToolResult> FsckAsync() =>
        Tool.RunAsync("e2fsck", ["-fn", Dev], TimeSpan.FromMinutes(5), log: _log);

    private string Dev => Device ?? throw new InvalidOperationException("not attached");

    public async ValueTask DisposeAsync()
    {
        var errors = new List<string>();
        if (Mounted || IsMountPoint(MountPoint))
        {
            try
            {
                await Wait.UntilAsync(async () => (await Tool.RunAsync("umount", [MountPoint], s_step)).Succeeded || !IsMountPoint(MountPoint),
                    s_step, "umount");
            }
            catch (TimeoutException e)
            {
                errors.Add(e.Message);
                await Tool.RunAsync("umount", ["-l", MountPoint], s_step);
            }
            Mounted = false;
        }
        if (Device is not null)
        {
            var r = await Tool.RunAsync("losetup", ["-d", Device], s_step);
            if (!r.Succeeded) errors.Add(r.Describe());
            string backing = $"/sys/block/{Path.GetFileName(Device)}/loop/backing_file";
            try
            {
                await Wait.UntilAsync(() => !File.Exists(backing), s_step, $"{Device} to let go of its file");
            }
            catch (TimeoutException e)
            {
                errors.Add(e.Message);
            }
            Device = null;
        }
        if (IsMountPoint(_fuseDir))
        {
            try
            {
                await Wait.UntilAsync(async () => (await Tool.RunAsync("fusermount3", ["-u", _fuseDir], s_step)).Succeeded || !IsMountPoint(_fuseDir),
                    s_step, "fusermount3 -u");
            }
            catch (TimeoutException e)
            {
                errors.Add(e.Message);
                await Tool.RunAsync("umount", ["-l", _fuseDir], s_step);
            }
        }
        if (_nbdfuse is not null)
        {
            if (!await _nbdfuse.WaitForExitAsync(TimeSpan.FromSeconds(10))) errors.Add("nbdfuse did not exit after fusermount -u");
            await _nbdfuse.DisposeAsync();
        }
        if (_qemuNbd is not null) await _qemuNbd.DisposeAsync();
        if (errors.Count > 0) _log("teardown problems:\n" + string.Join("\n", errors));
    }

    /// <summary>True when path is a mount point (per /proc/self/mountinfo).</summary>
    public static bool IsMountPoint(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 4 && Unescape(f[4]) == full) return true;
        }
        return false;
    }

    public static bool HasMountsUnder(string dir)
    {
        string full = Path.GetFullPath(dir).TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Any(f => f.Length > 4 && (Unescape(f[4]) + "/").StartsWith(full, StringComparison.Ordinal));
    }

    private static string Unescape(string s) => s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal);
}
