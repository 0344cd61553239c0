using System.Buffers.Binary;
using Strata.Blocks;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Target;

// PROVISIONAL: the handful of SBC commands needed to bring the transport up (INQUIRY, TUR, READ CAPACITY,
// READ/WRITE 10/16, SYNCHRONIZE CACHE, REPORT LUNS, MODE SENSE 6). The SCSI command set in Scsi/ replaces it.
public sealed class ProvisionalBlockExecutor : IScsiTaskExecutor
{
    private readonly IBlockDevice _device;

    public ProvisionalBlockExecutor(IBlockDevice device)
    {
        _device = device;
    }

    public bool HasLun(ulong lun) => lun == 0;

    public void LogicalUnitReset(ulong lun, ItNexus requester)
    {
    }

    public void TargetReset(ItNexus requester)
    {
    }

    public void TasksAborted(ulong lun, ItNexus requester)
    {
    }

    public void NexusLost(ItNexus nexus)
    {
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ExecuteAsync(ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        byte op = cdb[0];
        task.Status = ScsiStatus.Good;
        if (task.Lun != 0 && op is not (0x12 or 0xA0))
        {
            Fail(task, 0x05, 0x25, 0x00);
            return;
        }

        try
        {
            switch (op)
            {
                case 0x00: // TEST UNIT READY
                    break;
                case 0x12: // INQUIRY
                    Inquiry(task);
                    break;
                case 0x25: // READ CAPACITY 10
                    {
                        var d = new byte[8];
                        BinaryPrimitives.WriteUInt32BigEndian(d, (uint)Math.Min(_device.BlockCount - 1, uint.MaxValue));
                        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4), (uint)_device.BlockSize);
                        Reply(task, d, d.Length);
                        break;
                    }

                case 0x9E when (cdb[1] & 0x1F) == 0x10: // READ CAPACITY 16
                    {
                        var d = new byte[32];
                        BinaryPrimitives.WriteUInt64BigEndian(d, (ulong)_device.BlockCount - 1);
                        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(8), (uint)_device.BlockSize);
                        Reply(task, d, (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]));
                        break;
                    }

                case 0x28 or 0x88: // READ 10/16
                    {
                        long lba = op == 0x28 ? BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]) : (long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]);
                        int blocks = op == 0x28 ? BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]) : (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]);
                        int bytes = blocks * _device.BlockSize;
                        task.TransferLength = bytes;
                        if (bytes > task.DataIn.Length)
                        {
                            Fail(task, 0x05, 0x24, 0x00);
                            return;
                        }

                        await _device.ReadAsync(lba, task.DataIn[..bytes], task.Aborted).ConfigureAwait(false);
                        break;
                    }

                case 0x2A or 0x8A: // WRITE 10/16
                    {
                        long lba = op == 0x2A ? BinaryPrimitives.ReadUInt32BigEndian(cdb[2..]) : (long)BinaryPrimitives.ReadUInt64BigEndian(cdb[2..]);
                        int blocks = op == 0x2A ? BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]) : (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[10..]);
                        bool fua = (cdb[1] & 0x08) != 0;
                        int bytes = blocks * _device.BlockSize;
                        task.TransferLength = bytes;
                        if (bytes > task.DataOut.Length)
                        {
                            Fail(task, 0x05, 0x24, 0x00);
                            return;
                        }

                        await _device.WriteAsync(lba, task.DataOut[..bytes], fua ? WriteFlags.Fua : WriteFlags.None, task.Aborted).ConfigureAwait(false);
                        break;
                    }

                case 0x35 or 0x91: // SYNCHRONIZE CACHE 10/16
                    await _device.FlushAsync(task.Aborted).ConfigureAwait(false);
                    break;
                case 0xA0: // REPORT LUNS
                    {
                        var d = new byte[16];
                        BinaryPrimitives.WriteUInt32BigEndian(d, 8);
                        Reply(task, d, (int)BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]));
                        break;
                    }

                case 0x1A: // MODE SENSE 6
                    {
                        var d = new byte[4 + 20];
                        d[0] = 23;
                        d[4] = 0x08;
                        d[5] = 0x12;
                        d[6] = 0x04; // WCE
                        Reply(task, d, cdb[4]);
                        break;
                    }

                default:
                    Fail(task, 0x05, 0x20, 0x00);
                    break;
            }
        }
        catch (BlockDeviceException e) when (e.Kind == BlockDeviceErrorKind.OutOfRange)
        {
            Fail(task, 0x05, 0x21, 0x00);
        }
    }

    private static void Inquiry(ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int allocation = BinaryPrimitives.ReadUInt16BigEndian(cdb[3..]);
        if ((cdb[1] & 1) == 0)
        {
            var d = new byte[36];
            d[0] = task.Lun == 0 ? (byte)0x00 : (byte)0x7F;
            d[2] = 0x06;
            d[3] = 0x02;
            d[4] = 31;
            "STRATA  VOLUME          0001"u8.CopyTo(d.AsSpan(8));
            Reply(task, d, allocation);
            return;
        }

        switch (cdb[2])
        {
            case 0x00:
                Reply(task, [0, 0x00, 0, 3, 0x00, 0x80, 0x83], allocation);
                break;
            case 0x80:
                Reply(task, [0, 0x80, 0, 8, .. "00000001"u8], allocation);
                break;
            case 0x83:
                Reply(task, [0, 0x83, 0, 12, 0x01, 0x03, 0, 8, 0x60, 0x01, 0x40, 0x5F, 0, 0, 0, 1], allocation);
                break;
            default:
                Fail(task, 0x05, 0x24, 0x00);
                break;
        }
    }

    private static void Reply(ScsiTask task, byte[] data, int allocation)
    {
        int n = Math.Min(Math.Min(data.Length, allocation), task.DataIn.Length);
        data.AsSpan(0, n).CopyTo(task.DataIn.Span);
        task.TransferLength = Math.Min(data.Length, allocation);
    }

    private static void Fail(ScsiTask task, byte key, byte asc, byte ascq)
    {
        var s = task.SenseBuffer;
        s[..18].Clear();
        s[0] = 0x70;
        s[2] = key;
        s[7] = 10;
        s[12] = asc;
        s[13] = ascq;
        task.SetSenseLength(18);
        task.Status = ScsiStatus.CheckCondition;
    }
}
