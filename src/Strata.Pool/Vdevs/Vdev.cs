using Strata.Blocks;
using Strata.Pool.OnDisk;

namespace Strata.Pool.Vdevs;

/// <summary>One file or block device of a pool, its label, and whether the pool uses it.</summary>
internal sealed class Vdev
{
    public Vdev(int index, string path, IBlockDevice? device, VdevLabel? label, VdevState state)
    {
        Index = index;
        Path = path;
        Device = device;
        Label = label;
        State = device is null ? VdevState.Faulted : state;
    }

    public int Index { get; }

    /// <summary>The path it was opened from, or the path it had when the pool last saw it.</summary>
    public string Path { get; private set; }

    /// <summary>Null when the vdev is missing.</summary>
    public IBlockDevice? Device { get; private set; }

    public VdevLabel? Label { get; private set; }

    public VdevState State { get; set; }

    /// <summary>Why it is faulted, for <c>pool status</c>.</summary>
    public string? FaultReason { get; set; }

    public bool IsOnline => State == VdevState.Online && Device is not null;

    public long SizeBytes => Device is null ? 0 : Device.BlockCount * Device.BlockSize;

    /// <summary>Puts a replacement in this slot (pool replace, after its resilver).</summary>
    public void Attach(string path, IBlockDevice device, VdevLabel label)
    {
        Path = path;
        Device = device;
        Label = label;
        FaultReason = null;
        State = VdevState.Online;
    }

    /// <summary>The 512-byte LBA of a byte offset (metadata and chunks are 512-aligned).</summary>
    public static long Lba(long offset) => offset >> 9;
}
