namespace Strata.Iscsi.Scsi;

/// <summary>Task attribute from the SCSI Command PDU's ATTR field (RFC 7143 11.3.1, SAM-5 8.6).</summary>
public enum ScsiTaskAttribute : byte
{
    Untagged = 0,
    Simple = 1,
    Ordered = 2,
    HeadOfQueue = 3,
    Aca = 4,
}
