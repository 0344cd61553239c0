namespace Strata.Iscsi.Scsi.ExtendedCopy;

/// <summary>The copy manager's operating parameters (SPC-4 6.18.5), reported and enforced.</summary>
internal static class CopyLimits
{
    public const int MaxCscdDescriptors = 8;
    public const int MaxSegmentDescriptors = 8;

    /// <summary>MAXIMUM DESCRIPTOR LIST LENGTH: CSCD plus segment descriptor lists, in bytes.</summary>
    public const int MaxDescriptorListLength = 512;

    /// <summary>MAXIMUM SEGMENT LENGTH in bytes: 65535 blocks of up to 4 KiB.</summary>
    public const uint MaxSegmentBytes = 65535u * 4096u;

    public const byte IdentificationCscd = 0xE4;
    public const byte BlockToBlockSegment = 0x02;
}
