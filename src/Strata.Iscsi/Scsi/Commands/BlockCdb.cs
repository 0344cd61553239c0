namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// The LOGICAL BLOCK ADDRESS and TRANSFER LENGTH of the READ/WRITE/VERIFY families, whose CDB layout follows
/// from the opcode's group code (SBC-3 4.2.2 and 5.x): 6-byte (group 0), 10-byte (1, 2), 12-byte (5), 16-byte (4).
/// </summary>
internal static class BlockCdb
{
    public static void Decode(ReadOnlySpan<byte> cdb, out ulong lba, out uint blocks)
    {
        switch (cdb[0] >> 5)
        {
            case 0:
                lba = (ulong)(((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3]);
                blocks = cdb[4];
                break;
            case 1:
            case 2:
                lba = BlockLogicalUnit.Field(cdb, 2, 4);
                blocks = (uint)BlockLogicalUnit.Field(cdb, 7, 2);
                break;
            case 5:
                lba = BlockLogicalUnit.Field(cdb, 2, 4);
                blocks = (uint)BlockLogicalUnit.Field(cdb, 6, 4);
                break;
            default:
                lba = BlockLogicalUnit.Field(cdb, 2, 8);
                blocks = (uint)BlockLogicalUnit.Field(cdb, 10, 4);
                break;
        }
    }

    /// <summary>The byte offset of the TRANSFER LENGTH field, for field pointers.</summary>
    public static int LengthOffset(byte opcode) => (opcode >> 5) switch
    {
        0 => 4,
        1 or 2 => 7,
        5 => 6,
        _ => 10,
    };

    /// <summary>FUA (byte 1, bit 3) of the 10/12/16-byte commands; WCE=0 makes every write write-through.</summary>
    public static Strata.Blocks.WriteFlags WriteFlagsOf(BlockLogicalUnit unit, ReadOnlySpan<byte> cdb) =>
        (cdb[0] >> 5) != 0 && (cdb[1] & 0x08) != 0 || !unit.Mode.WriteCacheEnabled
            ? Strata.Blocks.WriteFlags.Fua
            : Strata.Blocks.WriteFlags.None;
}
