using Strata.Node.Discovery;
using Xunit;

namespace Strata.Node.Tests.Discovery;

public sealed class DiskDiscoveryTests : IDisposable
{
    private const long GiB = 1024L * 1024 * 1024;

    private readonly FakeHost _host = new();

    public void Dispose() => _host.Dispose();

    /// <summary>
    /// A node with one device of every kind: a free disk, a partitioned disk with a mounted partition, a disk held
    /// by dm, a swap disk, a zero-size disk, an attached and an unattached loop, ram0, zram0, a CD-ROM and the dm
    /// device itself (mounted).
    /// </summary>
    private void BuildNode()
    {
        var sda = _host.Device("sda", 1953525168, "8:0");
        FakeHost.Write(sda, "device/model", "Samsung SSD 860 EVO 1TB \n");
        FakeHost.Write(sda, "device/serial", "  S3Z9NB0K123456A\n");
        FakeHost.Write(sda, "device/vendor", "ATA     \n");

        _host.Device("sdb", 2 * 2 * GiB / 512, "8:16", logicalBlockSize: 4096);
        _host.Partition("sdb", "sdb1", GiB / 512, "8:17");
        _host.Partition("sdb", "sdb2", GiB / 512, "8:18");
        _host.Mount("8:17", "/mnt/data", "ext4", "/dev/sdb1");

        _host.Device("sdc", 20 * GiB / 512, "8:32");
        _host.Holder("sdc", "dm-0");

        _host.Device("sdd", 8 * GiB / 512, "8:48");
        _host.Swap("/dev/sdd");

        _host.Device("sde", 0, "8:64");

        var dm = _host.Device("dm-0", 20 * GiB / 512, "253:0");
        FakeHost.Write(dm, "dm/name", "vg0-lv0\n");
        _host.Mount("253:0", "/srv", "xfs", "/dev/mapper/vg0-lv0");

        var loop0 = _host.Device("loop0", GiB / 512, "7:0");
        FakeHost.Write(loop0, "loop/backing_file", "/var/lib/strata/vdev0.img\n");
        _host.Device("loop1", 0, "7:1");

        _host.Device("ram0", 32768, "1:0");
        _host.Device("zram0", 1048576, "252:0");
        _host.Device("sr0", 2097152, "11:0", removable: true);
    }

    private DiscoveredDisk Single(string name, DiscoveryOptions? options = null) =>
        Assert.Single(_host.Discover(options ?? _host.Options(includeLoop: true, includeRam: true)), d => d.Name == name);

    [Fact]
    public void Defaults_report_whole_disks_sorted_by_name_without_loop_ram_cdrom_or_empty()
    {
        BuildNode();

        var disks = _host.Discover();

        Assert.Equal(["dm-0", "sda", "sdb", "sdc", "sdd"], disks.Select(d => d.Name));
    }

    [Fact]
    public void Loop_and_ram_are_reported_only_when_asked_and_unattached_loops_never()
    {
        BuildNode();

        Assert.Equal(["dm-0", "loop0", "sda", "sdb", "sdc", "sdd"], _host.Discover(_host.Options(includeLoop: true)).Select(d => d.Name));
        Assert.Equal(["dm-0", "ram0", "sda", "sdb", "sdc", "sdd", "zram0"], _host.Discover(_host.Options(includeRam: true)).Select(d => d.Name));
    }

    [Fact]
    public void A_plain_disk_reports_every_field_and_is_free()
    {
        BuildNode();

        var sda = Single("sda");

        Assert.Equal("/dev/sda", sda.Path);
        Assert.Equal("8:0", sda.DeviceNumber);
        Assert.Equal(1953525168L * 512, sda.SizeBytes);
        Assert.Equal(512, sda.LogicalSectorSize);
        Assert.Equal("Samsung SSD 860 EVO 1TB", sda.Model);
        Assert.Equal("S3Z9NB0K123456A", sda.Serial);
        Assert.Equal("ATA", sda.Vendor);
        Assert.Equal(DeviceTypes.Disk, sda.DeviceType);
        Assert.False(sda.Partitioned);
        Assert.Empty(sda.Partitions);
        Assert.Null(sda.MountPoint);
        Assert.False(sda.Swap);
        Assert.Null(sda.FileSystem);
        Assert.Empty(sda.Holders);
        Assert.False(sda.Removable);
        Assert.False(sda.ReadOnly);
        Assert.Null(sda.BackingFile);
        Assert.False(sda.InUse);
        Assert.Null(sda.UnusableReason);
    }

    [Fact]
    public void A_partitioned_disk_with_a_mounted_partition_is_in_use()
    {
        BuildNode();

        var sdb = Single("sdb");

        Assert.Equal(4 * GiB, sdb.SizeBytes);
        Assert.Equal(4096, sdb.LogicalSectorSize);
        Assert.Null(sdb.Model);
        Assert.Null(sdb.Serial);
        Assert.Null(sdb.Vendor);
        Assert.True(sdb.Partitioned);
        Assert.Equal(["sdb1", "sdb2"], sdb.Partitions);
        Assert.Equal("/mnt/data", sdb.MountPoint);
        Assert.True(sdb.InUse);
        Assert.Equal("mounted at /mnt/data; has partitions (sdb1, sdb2)", sdb.UnusableReason);
    }

    [Fact]
    public void A_partitioned_disk_with_nothing_mounted_is_still_in_use()
    {
        _host.Device("sdb", 4 * GiB / 512, "8:16");
        _host.Partition("sdb", "sdb1", GiB / 512, "8:17");

        var sdb = Single("sdb");

        Assert.Null(sdb.MountPoint);
        Assert.Equal("has partitions (sdb1)", sdb.UnusableReason);
    }

    [Fact]
    public void A_disk_held_by_device_mapper_is_in_use()
    {
        BuildNode();

        var sdc = Single("sdc");

        Assert.Equal(["dm-0"], sdc.Holders);
        Assert.Null(sdc.MountPoint);
        Assert.True(sdc.InUse);
        Assert.Equal("held by dm-0", sdc.UnusableReason);
    }

    [Fact]
    public void A_swap_disk_is_in_use()
    {
        BuildNode();

        var sdd = Single("sdd");

        Assert.True(sdd.Swap);
        Assert.Null(sdd.MountPoint);
        Assert.Equal("used as swap", sdd.UnusableReason);
    }

    [Fact]
    public void A_disk_with_a_swap_partition_is_swap()
    {
        _host.Device("sdf", 4 * GiB / 512, "8:80");
        _host.Partition("sdf", "sdf1", GiB / 512, "8:81");
        _host.Swap("/dev/sdf1");

        var sdf = Single("sdf");

        Assert.True(sdf.Swap);
        Assert.Equal("used as swap; has partitions (sdf1)", sdf.UnusableReason);
    }

    [Fact]
    public void A_device_mapper_device_has_type_dm_and_is_found_mounted_by_device_number()
    {
        BuildNode();

        var dm = Single("dm-0");

        Assert.Equal(DeviceTypes.Dm, dm.DeviceType);
        Assert.Equal("/dev/dm-0", dm.Path);
        Assert.Equal("/srv", dm.MountPoint);
        Assert.Equal("mounted at /srv", dm.UnusableReason);
    }

    [Fact]
    public void An_attached_loop_device_reports_its_backing_file()
    {
        BuildNode();

        var loop0 = Single("loop0");

        Assert.Equal("/dev/loop0", loop0.Path);
        Assert.Equal("7:0", loop0.DeviceNumber);
        Assert.Equal(DeviceTypes.Loop, loop0.DeviceType);
        Assert.Equal(GiB, loop0.SizeBytes);
        Assert.Equal("/var/lib/strata/vdev0.img", loop0.BackingFile);
        Assert.False(loop0.InUse);
    }

    [Fact]
    public void A_loop_device_with_a_size_but_no_backing_file_is_skipped()
    {
        _host.Device("loop5", 2048, "7:5");

        Assert.Empty(_host.Discover(_host.Options(includeLoop: true)));
    }

    [Fact]
    public void Ram_disks_have_type_ram()
    {
        BuildNode();

        Assert.Equal(DeviceTypes.Ram, Single("ram0").DeviceType);
        Assert.Equal(16 * 1024 * 1024, Single("ram0").SizeBytes);
        Assert.Equal(DeviceTypes.Ram, Single("zram0").DeviceType);
    }

    [Fact]
    public void Cdroms_floppies_and_empty_devices_are_never_reported_even_when_included()
    {
        BuildNode();
        _host.Device("fd0", 2880, "2:0", removable: true);

        var disks = _host.Discover(_host.Options(includeLoop: true, includeRam: true) with { Include = ["*"] });

        Assert.DoesNotContain(disks, d => d.Name is "sr0" or "fd0" or "sde" or "loop1");
    }

    [Fact]
    public void Loop_devices_are_not_reported_when_include_names_them_but_IncludeLoop_is_off()
    {
        BuildNode();

        Assert.Empty(_host.Discover(_host.Options() with { Include = ["/dev/loop*"] }));
    }

    [Fact]
    public void An_md_array_has_type_md()
    {
        var md = _host.Device("md127", 4 * GiB / 512, "9:127");
        FakeHost.Write(md, "md/level", "raid1\n");

        Assert.Equal(DeviceTypes.Md, Single("md127").DeviceType);
    }

    [Fact]
    public void A_mount_is_also_matched_by_its_source_path()
    {
        // btrfs reports an anonymous device number (0:45), so only the source names the disk.
        _host.Device("sdg", 4 * GiB / 512, "8:96");
        _host.Mount("0:45", @"/mnt/my\040pool", "btrfs", "/dev/sdg");

        var sdg = Single("sdg");

        Assert.Equal("/mnt/my pool", sdg.MountPoint);
        Assert.Equal("mounted at /mnt/my pool", sdg.UnusableReason);
    }

    [Fact]
    public void The_file_system_comes_from_udev_and_makes_the_disk_unusable()
    {
        _host.Device("sdh", 4 * GiB / 512, "8:112");
        _host.Udev("8:112", "S:disk/by-uuid/1234", "I:123456", "E:ID_FS_TYPE=ext4", "E:ID_FS_UUID=1234", "G:systemd");
        _host.Device("sdi", 4 * GiB / 512, "8:128");
        _host.Udev("8:128", "E:ID_FS_TYPE=", "E:ID_PART_TABLE_TYPE=gpt");

        Assert.Equal("ext4", Single("sdh").FileSystem);
        Assert.Equal("has file system ext4", Single("sdh").UnusableReason);
        Assert.Null(Single("sdi").FileSystem);
        Assert.False(Single("sdi").InUse);
    }

    [Fact]
    public void Udev_fills_in_model_serial_and_vendor_when_sysfs_has_none()
    {
        var nvme = _host.Device("nvme0n1", 4 * GiB / 512, "259:0");
        FakeHost.Write(nvme, "device/model", "Samsung SSD 980 PRO 1TB                 \n");
        _host.Udev("259:0", "E:ID_MODEL=Other_Model", "E:ID_SERIAL_SHORT=S5GXNF0R123456", "E:ID_VENDOR=Samsung");

        var disk = Single("nvme0n1");

        Assert.Equal("Samsung SSD 980 PRO 1TB", disk.Model);
        Assert.Equal("S5GXNF0R123456", disk.Serial);
        Assert.Equal("Samsung", disk.Vendor);
        Assert.Equal(DeviceTypes.Disk, disk.DeviceType);
    }

    [Fact]
    public void The_serial_falls_back_to_the_virtio_attribute_then_to_vpd_page_80()
    {
        var vda = _host.Device("vda", 4 * GiB / 512, "254:0");
        FakeHost.Write(vda, "serial", "virtio-serial-1\n");
        var sdj = _host.Device("sdj", 4 * GiB / 512, "8:144");
        var serial = "  WD-WCC4N1234567"u8.ToArray();
        Directory.CreateDirectory(Path.Combine(sdj, "device"));
        File.WriteAllBytes(Path.Combine(sdj, "device", "vpd_pg80"), [0x00, 0x80, 0x00, (byte)serial.Length, .. serial]);

        Assert.Equal("virtio-serial-1", Single("vda").Serial);
        Assert.Equal("WD-WCC4N1234567", Single("sdj").Serial);
    }

    [Fact]
    public void Read_only_and_removable_are_reported()
    {
        _host.Device("sdk", 4 * GiB / 512, "8:160", readOnly: true, removable: true);

        var sdk = Single("sdk");

        Assert.True(sdk.ReadOnly);
        Assert.True(sdk.Removable);
        Assert.Equal("read-only", sdk.UnusableReason);
    }

    [Fact]
    public void Every_reason_is_given_in_order()
    {
        _host.Device("sdl", 4 * GiB / 512, "8:176", readOnly: true);
        _host.Partition("sdl", "sdl1", GiB / 512, "8:177");
        _host.Partition("sdl", "sdl2", GiB / 512, "8:178");
        _host.Holder("sdl", "md0");
        _host.Mount("8:177", "/boot", "vfat", "/dev/sdl1");
        _host.Swap("/dev/sdl2");
        _host.Udev("8:176", "E:ID_FS_TYPE=linux_raid_member");

        Assert.Equal(
            "mounted at /boot; used as swap; has partitions (sdl1, sdl2); held by md0; has file system linux_raid_member; read-only",
            Single("sdl").UnusableReason);
    }

    [Fact]
    public void A_record_of_size_zero_gives_that_reason()
    {
        var disk = new DiscoveredDisk { Name = "sdz", Path = "/dev/sdz", DeviceType = DeviceTypes.Disk };

        Assert.True(disk.InUse);
        Assert.Equal("size 0", disk.UnusableReason);
    }

    [Fact]
    public void An_odd_device_is_reported_with_what_is_known_or_skipped_never_thrown()
    {
        // No size: skipped. A size that is not a number: skipped.
        FakeHost.Write(_host.Block("sdm"), "dev", "8:192\n");
        FakeHost.Write(_host.Block("sdn"), "size", "lots\n");
        // Only a size: every other attribute at its default. A model that is a directory: unreadable, so null.
        FakeHost.Write(_host.Block("sdo"), "size", "2048\n");
        FakeHost.Write(_host.Block("sdo"), "device/model/oops", "");
        // A stray file in /sys/block.
        FakeHost.Write(Path.Combine(_host.Root, "sys", "block"), "README", "not a device\n");

        var sdo = Assert.Single(_host.Discover());

        Assert.Equal("sdo", sdo.Name);
        Assert.Equal(1024 * 1024, sdo.SizeBytes);
        Assert.Null(sdo.DeviceNumber);
        Assert.Equal(512, sdo.LogicalSectorSize);
        Assert.Null(sdo.Model);
        Assert.Empty(sdo.Holders);
        Assert.False(sdo.InUse);
    }

    [Fact]
    public void Hidden_devices_are_skipped()
    {
        var path = _host.Device("nvme0c0n1", 4 * GiB / 512, "259:1");
        FakeHost.Write(path, "hidden", "1\n");
        _host.Device("nvme0n1", 4 * GiB / 512, "259:0");

        Assert.Equal(["nvme0n1"], _host.Discover().Select(d => d.Name));
    }

    [Fact]
    public void A_bang_in_the_kernel_name_is_a_slash_in_the_path()
    {
        _host.Device("cciss!c0d0", 4 * GiB / 512, "104:0");

        Assert.Equal("/dev/cciss/c0d0", Single("cciss!c0d0").Path);
    }

    [Fact]
    public void Include_and_exclude_filter_by_path_or_by_name()
    {
        BuildNode();
        _host.Device("sdaa", 4 * GiB / 512, "65:160");

        IReadOnlyList<string> Names(IReadOnlyList<string> include, IReadOnlyList<string> exclude) =>
            _host.Discover(_host.Options(includeLoop: true) with { Include = include, Exclude = exclude }).Select(d => d.Name).ToArray();

        Assert.Equal(["sda", "sdaa", "sdb", "sdc", "sdd"], Names(["/dev/sd*"], []));
        Assert.Equal(["sda", "sdaa", "sdd"], Names(["/dev/sd*"], ["sdb", "/dev/sdc"]));
        Assert.Equal(["sda"], Names(["/dev/sda"], []));
        Assert.Equal(["sda", "sdb", "sdc", "sdd"], Names(["sd?"], []));
        Assert.Equal(["dm-0", "loop0"], Names(["dm-*", "/dev/loop*"], []));
        Assert.Equal(["dm-0", "loop0", "sdaa"], Names([], ["sd?"]));
    }

    [Fact]
    public void Without_sysfs_discovery_fails_but_without_swaps_or_udev_it_does_not()
    {
        Directory.Delete(Path.Combine(_host.Root, "sys", "block"));
        var missing = Assert.Throws<DirectoryNotFoundException>(() => _host.Discover());
        Assert.Contains("block", missing.Message, StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(_host.Root, "sys", "block"));
        _host.Device("sda", 2048, "8:0");
        var options = _host.Options() with { UdevRoot = Path.Combine(_host.Root, "nowhere") };
        File.WriteAllText(Path.Combine(_host.Root, "proc", "self", "mountinfo"), "");

        var sda = Assert.Single(new DiskDiscovery(options).Discover());
        Assert.False(sda.InUse);
    }

    [Fact]
    public void Options_default_to_the_real_system_and_leave_loop_and_ram_out()
    {
        var options = new DiscoveryOptions();

        Assert.Equal("/sys", options.SysRoot);
        Assert.Equal("/proc", options.ProcRoot);
        Assert.Equal("/run/udev", options.UdevRoot);
        Assert.Empty(options.Include);
        Assert.Empty(options.Exclude);
        Assert.False(options.IncludeLoop);
        Assert.False(options.IncludeRam);
    }
}
