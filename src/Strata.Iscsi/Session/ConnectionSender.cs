using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Strata.Iscsi.Pdu;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Session;

/// <summary>
/// The one writer of a connection's socket. Responses are queued from any thread; the send loop takes every
/// queued item, assigns StatSN in wire order, frames them (Data-In split by MaxRecvDataSegmentLength and
/// MaxBurstLength, status collapsed into the last Data-In, digests) and sends the batch in one gathered write:
/// headers and small data from one pinned buffer, large data straight from the commands' buffers.
/// </summary>
internal sealed class ConnectionSender
{
    private const int BatchSize = 256 * 1024;
    private const int CopyThreshold = 8 * 1024;

    /// <summary>sendmsg takes its iovecs from the stack up to 8 segments and allocates beyond.</summary>
    private const int MaxSegments = 8;

    private readonly Socket _socket;
    private readonly Channel<Outbound> _queue = Channel.CreateUnbounded<Outbound>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    private readonly byte[] _batch = GC.AllocateUninitializedArray<byte>(BatchSize, pinned: true);
    private readonly List<ArraySegment<byte>> _segments = new(64);
    private readonly List<IscsiTask> _sentTasks = new(64);
    private readonly SocketSender _socketSender = new();
    private readonly IscsiConnection _connection;
    private int _batchUsed;
    private int _segmentStart;
    private bool _headerDigest;
    private bool _dataDigest;

    public ConnectionSender(IscsiConnection connection, Socket socket)
    {
        _connection = connection;
        _socket = socket;
    }

    /// <summary>The StatSN the next status-carrying PDU gets.</summary>
    public uint StatSN { get; set; }

    public bool TryEnqueue(in Outbound item) => _queue.Writer.TryWrite(item);

    public void Complete() => _queue.Writer.TryComplete();

    public async Task RunAsync()
    {
        var reader = _queue.Reader;
        try
        {
            // No token here: a cancellable wait allocates each time; Complete() ends the loop instead.
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                bool close = false;
                while (!close && reader.TryRead(out var item))
                {
                    close = Frame(ref item);
                    if (_batchUsed > BatchSize - 4096 || _segments.Count >= MaxSegments - 2)
                    {
                        await FlushAsync().ConfigureAwait(false);
                    }
                }

                await FlushAsync().ConfigureAwait(false);
                if (close)
                {
                    _connection.Close("closed after the last response");
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            _connection.Close($"send failed: {e.Message}");
        }
        finally
        {
            // Whatever is still queued will never be sent; its tasks go back to the pool.
            while (reader.TryRead(out var item))
            {
                if (item.Task is { } t)
                {
                    _connection.Sent(t);
                }
            }

            foreach (var t in _sentTasks)
            {
                _connection.Sent(t);
            }

            _sentTasks.Clear();
        }
    }

    private bool Frame(ref Outbound item)
    {
        if (item.Kind == OutboundKind.ScsiResult)
        {
            FrameScsiResult(item.Task!);
            return false;
        }

        Span<byte> header = item.Header;
        var bhs = new BasicHeaderSegment(header);
        bhs.Word24 = StatSN;
        if (item.StatSN == StatSNUse.Advance)
        {
            StatSN++;
        }

        var window = _connection.Window;
        if (item.ReleasesSlot)
        {
            window.Release();
        }

        bhs.Word28 = window.ExpCmdSN;
        bhs.Word32 = window.MaxCmdSN;
        bhs.DataSegmentLength = item.Data.Length;
        AppendPdu(header, item.Data);
        if (item.Task is { } task)
        {
            _sentTasks.Add(task);
        }

        if (item.StartDigestsAfter)
        {
            _headerDigest = _connection.Parameters.HeaderDigest;
            _dataDigest = _connection.Parameters.DataDigest;
        }

        return item.CloseAfter;
    }

    /// <summary>Data-In PDUs for what the command read, then its status (RFC 7143 11.7, 11.4).</summary>
    private void FrameScsiResult(IscsiTask task)
    {
        var scsi = task.Scsi;
        var window = _connection.Window;
        int expected = scsi.ExpectedDataTransferLength;
        int transfer = scsi.TransferLength;
        int dataIn = scsi.ReadExpected ? Math.Min(Math.Min(transfer, expected), scsi.DataIn.Length) : 0;
        bool collapse = scsi.SenseLength == 0 && scsi.Status is ScsiStatus.Good or ScsiStatus.ConditionMet && dataIn > 0;

        // Residuals (RFC 7143 11.4.5): against what the command itself wanted to move.
        byte residualFlags = 0;
        uint residual = 0;
        if (transfer < expected)
        {
            residualFlags = 0x02; // U
            residual = (uint)(expected - transfer);
        }
        else if (transfer > expected)
        {
            residualFlags = 0x04; // O
            residual = (uint)(transfer - expected);
        }

        // The slot is free once the final response is framed, so its MaxCmdSN already counts it.
        if (!task.Immediate)
        {
            window.Release();
        }

        int maxSegment = _connection.Parameters.InitiatorMaxRecvDataSegmentLength;
        int maxBurst = _connection.Parameters.MaxBurstLength;
        uint dataSN = 0;
        int offset = 0;
        Span<byte> header = stackalloc byte[BasicHeaderSegment.Length];
        while (offset < dataIn)
        {
            int burstEnd = Math.Min(dataIn, (offset / maxBurst + 1) * maxBurst);
            int length = Math.Min(maxSegment, burstEnd - offset);
            bool last = offset + length == dataIn;
            bool sequenceEnd = offset + length == burstEnd;
            var bhs = new BasicHeaderSegment(header);
            bhs.Clear(Opcode.ScsiDataIn);
            byte flags = sequenceEnd ? (byte)0x80 : (byte)0;
            if (last && collapse)
            {
                flags |= (byte)(0x01 | residualFlags);
                header[3] = (byte)scsi.Status;
                bhs.Word24 = StatSN++;
                bhs.Word44 = residual;
            }
            else
            {
                bhs.Word24 = StatSN;
            }

            bhs.Flags = flags;
            bhs.DataSegmentLength = length;
            bhs.InitiatorTaskTag = task.Itt;
            bhs.Word20 = BasicHeaderSegment.ReservedTag;
            bhs.Word28 = window.ExpCmdSN;
            bhs.Word32 = window.MaxCmdSN;
            bhs.Word36 = dataSN++;
            bhs.Word40 = (uint)offset;
            AppendPdu(header, scsi.DataIn.Slice(offset, length));
            offset += length;
        }

        if (!collapse)
        {
            var bhs = new BasicHeaderSegment(header);
            bhs.Clear(Opcode.ScsiResponse);
            bhs.Flags = (byte)(0x80 | residualFlags);
            header[2] = 0x00; // command completed at target
            header[3] = (byte)scsi.Status;
            bhs.InitiatorTaskTag = task.Itt;
            bhs.Word24 = StatSN++;
            bhs.Word28 = window.ExpCmdSN;
            bhs.Word32 = window.MaxCmdSN;
            bhs.Word36 = dataSN;
            bhs.Word44 = residual;
            if (scsi.SenseLength > 0)
            {
                // Data segment: SenseLength (2 bytes) then the sense data (RFC 7143 11.4.7.2).
                Span<byte> senseLength = stackalloc byte[2];
                BinaryPrimitives.WriteUInt16BigEndian(senseLength, (ushort)scsi.SenseLength);
                bhs.DataSegmentLength = 2 + scsi.SenseLength;
                AppendHeader(header);
                AppendData(senseLength, scsi.Sense.Span);
            }
            else
            {
                AppendPdu(header, ReadOnlyMemory<byte>.Empty);
            }
        }

        _sentTasks.Add(task);
    }

    private void AppendPdu(ReadOnlySpan<byte> header, ReadOnlyMemory<byte> data)
    {
        AppendHeader(header);
        if (data.IsEmpty)
        {
            return;
        }

        if (data.Length <= CopyThreshold || !MemoryMarshal.TryGetArray(data, out var array))
        {
            AppendData(data.Span, ReadOnlySpan<byte>.Empty);
            return;
        }

        // Large data goes out from the command's own buffer: close the batch segment, reference the data.
        CloseBatchSegment();
        _segments.Add(array);
        int pad = BasicHeaderSegment.Padded(data.Length) - data.Length;
        var tail = _batch.AsSpan(_batchUsed, pad + 4);
        tail[..pad].Clear();
        _batchUsed += pad;
        if (_dataDigest)
        {
            uint crc = Crc32C.Append(Crc32C.Compute(data.Span), tail[..pad]);
            BinaryPrimitives.WriteUInt32LittleEndian(_batch.AsSpan(_batchUsed), crc);
            _batchUsed += 4;
        }
    }

    private void AppendHeader(ReadOnlySpan<byte> header)
    {
        header.CopyTo(_batch.AsSpan(_batchUsed));
        _batchUsed += header.Length;
        if (_headerDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_batch.AsSpan(_batchUsed), Crc32C.Compute(header));
            _batchUsed += 4;
        }
    }

    /// <summary>Copies a data segment (given in up to two parts) into the batch, padded, with its digest.</summary>
    private void AppendData(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        int start = _batchUsed;
        first.CopyTo(_batch.AsSpan(_batchUsed));
        _batchUsed += first.Length;
        second.CopyTo(_batch.AsSpan(_batchUsed));
        _batchUsed += second.Length;
        int length = first.Length + second.Length;
        int pad = BasicHeaderSegment.Padded(length) - length;
        _batch.AsSpan(_batchUsed, pad).Clear();
        _batchUsed += pad;
        if (_dataDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(
                _batch.AsSpan(_batchUsed),
                Crc32C.Compute(_batch.AsSpan(start, length + pad)));
            _batchUsed += 4;
        }
    }

    private void CloseBatchSegment()
    {
        if (_batchUsed > _segmentStart)
        {
            _segments.Add(new ArraySegment<byte>(_batch, _segmentStart, _batchUsed - _segmentStart));
            _segmentStart = _batchUsed;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushAsync()
    {
        CloseBatchSegment();
        if (_segments.Count > 0)
        {
            await _socketSender.SendAllAsync(_socket, _segments).ConfigureAwait(false);
            _segments.Clear();
        }

        _batchUsed = 0;
        _segmentStart = 0;
        foreach (var t in _sentTasks)
        {
            _connection.Sent(t);
        }

        _sentTasks.Clear();
    }
}
