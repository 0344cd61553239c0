using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.ExtendedCopy;

/// <summary>
/// EXTENDED COPY (LID1) (SPC-4 6.3): block-to-block segment descriptors (02h) between CSCDs named by
/// identification descriptors (E4h). A CSCD is accepted only when its designator names a logical unit of THIS
/// target device; anything else ends the command with COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE before any
/// data moves. (Linux LIO once looked designators up across every LU of the system and let an initiator copy
/// from volumes it had no access to: CVE-2020-28374.)
/// </summary>
internal static class ExtendedCopyCommand
{
    private const int HeaderLength = 16;
    private const int CscdLength = 32;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        uint listLength = (uint)BlockLogicalUnit.Field(cdb, 10, 4);
        if (listLength == 0)
        {
            BlockLogicalUnit.Good(task, 0); // SPC-4 6.3.1: not an error, nothing to copy
            return default;
        }

        var data = task.DataOut.Span;
        if (listLength < HeaderLength || data.Length < listLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        data = data[..(int)listLength];
        byte listId = data[0];
        int usage = (data[1] >> 3) & 0x03;
        int cscdBytes = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        uint segmentBytes = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
        uint inlineBytes = BinaryPrimitives.ReadUInt32BigEndian(data[12..]);
        if ((ulong)HeaderLength + (ulong)cscdBytes + segmentBytes + inlineBytes > listLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        if ((ulong)cscdBytes + segmentBytes > CopyLimits.MaxDescriptorListLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        if (usage == 1 || (data[1] & 0x20) != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(1)); // LIST ID USAGE 01b is reserved; STR unsupported
            return default;
        }

        if (inlineBytes != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(12)); // MAXIMUM INLINE DATA LENGTH is 0
            return default;
        }

        if (cscdBytes % CscdLength != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(2));
            return default;
        }

        int cscdCount = cscdBytes / CscdLength;
        if (cscdCount > CopyLimits.MaxCscdDescriptors)
        {
            unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.TooManyTargetDescriptors));
            return default;
        }

        // Count and check the segment descriptors (variable length) before anything else happens.
        var segments = data.Slice(HeaderLength + cscdBytes, (int)segmentBytes);
        int segmentCount = 0;
        for (int at = 0; at < segments.Length;)
        {
            if (at + 4 > segments.Length)
            {
                unit.Fail(task, SenseData.ParameterListLengthError);
                return default;
            }

            int length = 4 + BinaryPrimitives.ReadUInt16BigEndian(segments[(at + 2)..]);
            if (at + length > segments.Length)
            {
                unit.Fail(task, SenseData.ParameterListLengthError);
                return default;
            }

            segmentCount++;
            at += length;
        }

        if (segmentCount > CopyLimits.MaxSegmentDescriptors)
        {
            unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.TooManySegmentDescriptors));
            return default;
        }

        // CSCD descriptors: identification descriptors of block devices.
        var targets = new BlockLogicalUnit?[cscdCount];
        for (int i = 0; i < cscdCount; i++)
        {
            int offset = HeaderLength + (i * CscdLength);
            var d = data.Slice(offset, CscdLength);
            if (d[0] != CopyLimits.IdentificationCscd)
            {
                unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.UnsupportedTargetDescriptorTypeCode));
                return default;
            }

            // LU ID TYPE (bits 7-6) is ignored: SPC-4 made the LU IDENTIFIER obsolete; the designator decides.
            if ((d[1] & 0x1F) != 0)
            {
                unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.UnsupportedTargetDescriptorTypeCode));
                return default;
            }

            bool nul = (d[1] & 0x20) != 0;
            targets[i] = nul ? null : Resolve(unit, d[4..24]);
            int blockLength = (d[29] << 16) | (d[30] << 8) | d[31];
            if (targets[i] is { } t && blockLength != t.BlockSize)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(offset + 29));
                return default;
            }
        }

        for (int at = 0; at < segments.Length; at += 4 + BinaryPrimitives.ReadUInt16BigEndian(segments[(at + 2)..]))
        {
            if (segments[at] != CopyLimits.BlockToBlockSegment)
            {
                unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.UnsupportedSegmentDescriptorTypeCode));
                return default;
            }

            if (BinaryPrimitives.ReadUInt16BigEndian(segments[(at + 2)..]) != 0x18)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(HeaderLength + cscdBytes + at + 2));
                return default;
            }
        }

        // Every segment's CSCDs must exist and be reachable, and its ranges lie on them, before data moves.
        for (int at = 0; at < segments.Length; at += 28)
        {
            var s = segments.Slice(at, 28);
            int source = BinaryPrimitives.ReadUInt16BigEndian(s[4..]);
            int destination = BinaryPrimitives.ReadUInt16BigEndian(s[6..]);
            if (source >= cscdCount || destination >= cscdCount || targets[source] is null || targets[destination] is null)
            {
                unit.Fail(task, SenseData.Of(SenseKey.CopyAborted, AdditionalSense.CopyTargetDeviceNotReachable));
                return default;
            }

            ulong blocks = BinaryPrimitives.ReadUInt16BigEndian(s[10..]);
            ulong sourceLba = BinaryPrimitives.ReadUInt64BigEndian(s[12..]);
            ulong destinationLba = BinaryPrimitives.ReadUInt64BigEndian(s[20..]);
            if (!Fits(targets[source]!, sourceLba, blocks) || !Fits(targets[destination]!, destinationLba, blocks))
            {
                // SPC-4 6.3.7: the copy cannot be done; report it as an aborted copy, nothing was written.
                unit.Fail(task, SenseData.Of(SenseKey.CopyAborted, AdditionalSense.NoAdditionalSense));
                return default;
            }
        }

        if (usage == 0)
        {
            unit.CopyResults.Discard(task.Nexus, listId);
        }

        return CopyAsync(unit, task, targets, HeaderLength + cscdBytes, segmentCount, listId, usage == 0, (int)listLength);
    }

    private static bool Fits(BlockLogicalUnit unit, ulong lba, ulong blocks) =>
        lba <= (ulong)unit.BlockCount && blocks <= (ulong)unit.BlockCount - lba;

    /// <summary>Finds the LU of this target device that the designation descriptor names, or null.</summary>
    private static BlockLogicalUnit? Resolve(BlockLogicalUnit unit, ReadOnlySpan<byte> designation)
    {
        int association = (designation[1] >> 4) & 0x03;
        int type = designation[1] & 0x0F;
        int length = designation[3];
        if (association != 0 || type != 0x03 || length != 16 || unit.Target is not { } target)
        {
            return null;
        }

        return target.FindByDesignator(designation.Slice(4, length));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask CopyAsync(
        BlockLogicalUnit unit, ScsiTask task, BlockLogicalUnit?[] targets, int segmentsAt, int segmentCount, byte listId, bool hold, int transferred)
    {
        const int ChunkBytes = 1 << 20;
        ushort done = 0;
        ulong bytes = 0;
        byte[] buffer = task.Buffers.Rent(ChunkBytes);
        try
        {
            for (int i = 0; i < segmentCount; i++)
            {
                var s = task.DataOut.Slice(segmentsAt + (28 * i), 28);
                var source = targets[BinaryPrimitives.ReadUInt16BigEndian(s.Span[4..])]!;
                var destination = targets[BinaryPrimitives.ReadUInt16BigEndian(s.Span[6..])]!;
                long blocks = BinaryPrimitives.ReadUInt16BigEndian(s.Span[10..]);
                long from = (long)BinaryPrimitives.ReadUInt64BigEndian(s.Span[12..]);
                long to = (long)BinaryPrimitives.ReadUInt64BigEndian(s.Span[20..]);
                int bs = source.BlockSize;
                int chunk = ChunkBytes / bs;
                for (long copied = 0; copied < blocks; copied += chunk)
                {
                    int n = (int)Math.Min(chunk, blocks - copied);
                    var memory = buffer.AsMemory(0, n * bs);
                    ulong readMask = LbaRangeLock.MaskOf(from + copied, n);
                    await source.RangeLock.EnterSharedAsync(readMask, task.Aborted).ConfigureAwait(false);
                    try
                    {
                        await source.Device.ReadAsync(from + copied, memory, task.Aborted).ConfigureAwait(false);
                    }
                    finally
                    {
                        source.RangeLock.ExitShared(readMask);
                    }

                    ulong writeMask = LbaRangeLock.MaskOf(to + copied, n);
                    await destination.RangeLock.EnterSharedAsync(writeMask, task.Aborted).ConfigureAwait(false);
                    try
                    {
                        await destination.Device.WriteAsync(to + copied, memory, WriteFlags.None, task.Aborted).ConfigureAwait(false);
                    }
                    finally
                    {
                        destination.RangeLock.ExitShared(writeMask);
                    }

                    bytes += (ulong)memory.Length;
                }

                done++;
            }
        }
        catch (BlockDeviceException e)
        {
            if (hold)
            {
                unit.CopyResults.Hold(task.Nexus, listId, new CopyStatus(CopyResults.CompletedWithError, done, bytes));
            }

            var sense = BlockLogicalUnit.SenseFor(e, writing: true);
            unit.Fail(task, SenseData.Of(SenseKey.CopyAborted, sense.Code));
            return;
        }
        finally
        {
            task.Buffers.Return(buffer);
        }

        if (hold)
        {
            unit.CopyResults.Hold(task.Nexus, listId, new CopyStatus(CopyResults.CompletedGood, done, bytes));
        }

        BlockLogicalUnit.Good(task, transferred);
    }
}
