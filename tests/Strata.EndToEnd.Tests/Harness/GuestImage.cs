using System.Text;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>A Debian kernel and an initramfs built from this machine's packages: busybox-static, open-iscsi's
/// iscsistart, e2fsprogs' real mke2fs and e2fsck (with the libraries ldd lists), and the kernel modules for
/// virtio networking, iSCSI over TCP, SCSI disks and ext4, loaded in the order modprobe prints them.
/// Its /init logs in to the target named on the kernel command line, checks what the kernel made of the LUN,
/// makes and checks an ext4 on it, prints "STRATA-E2E key=value" markers on the serial console and powers off.</summary>
public sealed class GuestImage
{
    private static readonly string[] s_modules = ["virtio_pci", "virtio_net", "iscsi_tcp", "sd_mod", "ext4"];
    // Applets that would shadow the real e2fsprogs tools inside the guest.
    private static readonly string[] s_shadowing = ["mke2fs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "e2fsck", "fsck", "fsck.ext4", "tune2fs"];

    private GuestImage(string kernel, string initrd)
    {
        Kernel = kernel;
        Initrd = initrd;
    }

    public string Kernel { get; }
    public string Initrd { get; }

    public static async Task<GuestImage> BuildAsync(string dir, Action<string> log)
    {
        var timeout = TimeSpan.FromMinutes(2);
        string release = Directory.GetDirectories("/lib/modules").Select(Path.GetFileName)
            .Where(r => File.Exists($"/boot/vmlinuz-{r}")).OrderDescending(StringComparer.Ordinal).FirstOrDefault()
            ?? throw new InvalidOperationException("no /boot/vmlinuz-* with modules under /lib/modules: install linux-image-amd64");
        string root = Path.Combine(dir, "initramfs");
        foreach (string d in new[] { "bin", "sbin", "proc", "sys", "dev", "tmp", "mnt", "etc", $"lib/modules/{release}" })
            Directory.CreateDirectory(Path.Combine(root, d));

        File.Copy("/bin/busybox", Path.Combine(root, "bin/busybox"));
        var applets = (await Tool.RunCheckedAsync("/bin/busybox", ["--list"], timeout)).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string a in applets.Except(s_shadowing).Where(a => a != "busybox"))
            File.CreateSymbolicLink(Path.Combine(root, "bin", a), "busybox");

        foreach (string exe in new[] { "/usr/sbin/iscsistart", "/sbin/mke2fs", "/sbin/e2fsck" })
        {
            File.Copy(exe, Path.Combine(root, "sbin", Path.GetFileName(exe)));
            var ldd = await Tool.RunCheckedAsync("ldd", [exe], timeout);
            foreach (string lib in ldd.Stdout.Split('\n').SelectMany(l => l.Split(' ', '\t')).Where(w => w.StartsWith('/')))
                CopyInto(root, lib);
        }
        CopyInto(root, "/etc/mke2fs.conf");

        // One modprobe -a call: its insmod lines are the load order (dependencies first). Duplicates are dropped,
        // keeping the first; the order is not sorted.
        var deps = await Tool.RunCheckedAsync("modprobe", ["-a", "-S", release, "--show-depends", .. s_modules], timeout, log: log);
        var modules = new List<string>();
        foreach (string line in deps.Stdout.Split('\n'))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && f[0] == "insmod" && !modules.Contains(f[1])) modules.Add(f[1]);
        }
        if (modules.Count == 0) throw new InvalidOperationException("modprobe --show-depends printed no modules:\n" + deps.Describe());
        foreach (string m in modules) CopyInto(root, m);
        foreach (string f in Directory.GetFiles($"/lib/modules/{release}", "modules.*")) CopyInto(root, f);

        string init = Path.Combine(root, "init");
        await File.WriteAllTextAsync(init, InitScript(modules));
        File.SetUnixFileMode(init, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        string initrd = Path.Combine(dir, "initrd.cpio.gz");
        await Tool.RunCheckedAsync("bash", ["-c", "set -o pipefail; cd \"$1\" && find . | cpio -o -H newc --quiet | gzip -1 > \"$2\"", "pack", root, initrd], timeout, log: log);
        log($"guest: kernel /boot/vmlinuz-{release}, initramfs {new FileInfo(initrd).Length >> 10} KiB with {modules.Count} modules");
        return new GuestImage($"/boot/vmlinuz-{release}", initrd);
    }

    private static void CopyInto(string root, string path)
    {
        string dest = Path.Combine(root, path.TrimStart('/'));
        if (File.Exists(dest)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        File.Copy(new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path, dest);
    }

    private static string InitScript(IEnumerable<string> modules)
    {
        var sb = new StringBuilder();
        sb.Append("#!/bin/sh\n");
        sb.Append("mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev\n");
        sb.Append("m() { echo \"STRATA-E2E $1\"; }\n");
        sb.Append("fail() { m \"fail=$1\"; poweroff -f; }\n");
        foreach (string mod in modules) sb.Append("insmod ").Append(mod).Append(" 2>/dev/null\n");
        sb.Append("""
for w in $(cat /proc/cmdline); do
  case "$w" in strata.iqn=*) IQN=${w#*=};; strata.addr=*) ADDR=${w#*=};; strata.port=*) PORT=${w#*=};; esac
done
ip link set lo up; ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0
m "boot=ok"
iscsistart -i iqn.2026-11.io.strata:e2e-guest -t "$IQN" -g 1 -a "$ADDR" -p "$PORT"; rc=$?
m "login=$rc"
[ $rc -eq 0 ] || fail login
i=0; while ! ls /sys/block | grep -q '^sd'; do i=$((i+1)); [ $i -gt 300 ] && fail no-disk; sleep 0.1; done
D=$(ls /sys/block | grep '^sd' | head -n 1)
while [ ! -b /dev/$D ]; do i=$((i+1)); [ $i -gt 600 ] && fail no-device-node; sleep 0.1; done
m "disks=$(ls /sys/block | grep '^sd' | tr '\n' ' ')"
m "size_bytes=$(( $(cat /sys/block/$D/size) * 512 ))"
m "logical_block_size=$(cat /sys/block/$D/queue/logical_block_size)"
m "discard_max_bytes=$(cat /sys/block/$D/queue/discard_max_bytes)"
m "write_cache=$(cat /sys/block/$D/queue/write_cache)"
/sbin/mke2fs -q -F -t ext4 /dev/$D; m "mkfs=$?"
mount -t ext4 /dev/$D /mnt || fail mount
dd if=/dev/urandom of=/mnt/data bs=1M count=16 2>/dev/null
m "sum_written=$(sha256sum /mnt/data | cut -d' ' -f1)"
sync; echo 3 > /proc/sys/vm/drop_caches
m "sum_after_drop_caches=$(sha256sum /mnt/data | cut -d' ' -f1)"
umount /mnt; m "umount=$?"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext4 /dev/$D /mnt || fail remount
m "sum_after_remount=$(sha256sum /mnt/data | cut -d' ' -f1)"
umount /mnt
/sbin/e2fsck -fn /dev/$D; m "fsck=$?"
m "done=1"
poweroff -f

""");
        return sb.ToString();
    }
}
