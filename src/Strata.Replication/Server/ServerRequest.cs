using System.Runtime.CompilerServices;
using Strata.Replication.Protocol;

namespace Strata.Replication.Server;

/// <summary>
/// One request a connection received and the response it owes: a device call (Read, Write, Flush, Unmap,
/// GetExtent) started without waiting for earlier ones, or an answer of the connection itself (HelloOk, an error).
/// Pooled per connection with its completion delegate, so a request allocates nothing; buffers come from
/// <see cref="PinnedBufferPool"/>.
/// </summary>
internal sealed class ServerRequest
{
    private readonly ReplicaConnection _connection;
    private readonly Action _onDeviceCompleted;
    private readonly Action _onIntentPersisted;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _awaiter;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _intentAwaiter;
    private IBlockDevice? _device;
    private bool _fua;

    /// <summary>The write-intent log a Write or Unmap is counted in flight in, until its device call ends.</summary>
    private WriteIntentLog? _intent;
    private ConfiguredValueTaskAwaitable<(bool Mapped, long Blocks)>.ConfiguredValueTaskAwaiter _extentAwaiter;

    public ServerRequest(ReplicaConnection connection)
    {
        _connection = connection;
        _onDeviceCompleted = OnDeviceCompleted;
        _onIntentPersisted = OnIntentPersisted;
    }

    public Opcode Opcode { get; private set; }

    public ulong RequestId { get; private set; }

    public ulong Lba { get; private set; }

    public uint BlockCount { get; private set; }

    /// <summary>Rented from <see cref="PinnedBufferPool.Shared"/>: a Write's data, then a Read's; null otherwise.</summary>
    public byte[]? Buffer { get; private set; }

    /// <summary>Bytes of <see cref="Buffer"/> in use, what the in-flight limit was charged.</summary>
    public int Length { get; private set; }

    /// <summary>Whether this request holds a place of the connection's in-flight limit.</summary>
    public bool Limited { get; private set; }

    public ReplicaStatus Status { get; private set; }

    public string? Message { get; private set; }

    /// <summary>CRC32C of a successful Read's data.</summary>
    public uint DataCrc { get; private set; }

    /// <summary>A successful GetExtent's answer.</summary>
    public ExtentPayload Extent { get; private set; }

    /// <summary>A Flush's write-intent generation, taken when it was received.</summary>
    public int FlushGeneration { get; private set; }

    /// <summary>A successful GetIntent's answer (its bitmap follows in <see cref="Buffer"/>).</summary>
    public IntentPayload Intent { get; private set; }

    /// <summary>The geometry a HelloOk answer carries.</summary>
    public HelloOkPayload HelloOk { get; private set; }

    /// <summary>The response opcode: Response, or HelloOk.</summary>
    public Opcode ResponseOpcode { get; private set; }

    public void InitDeviceCall(in FrameHeader header, int length)
    {
        Opcode = header.Opcode;
        RequestId = header.RequestId;
        Lba = header.Lba;
        BlockCount = header.BlockCount;
        Length = length;
        Limited = true;
        ResponseOpcode = Opcode.Response;
        Status = ReplicaStatus.Ok;
        Message = null;
        DataCrc = 0;
        Extent = default;
        FlushGeneration = 0;
        Intent = default;
        Buffer = length > 0 ? PinnedBufferPool.Shared.Rent(length) : null;
    }

    public void InitAnswer(ulong requestId, ReplicaStatus status, string? message)
    {
        Opcode = Opcode.Response;
        ResponseOpcode = Opcode.Response;
        RequestId = requestId;
        Lba = 0;
        BlockCount = 0;
        Length = 0;
        Limited = false;
        Status = status;
        Message = message;
        Buffer = null;
    }

    public void InitHelloOk(ulong requestId, HelloOkPayload payload)
    {
        InitAnswer(requestId, ReplicaStatus.Ok, null);
        ResponseOpcode = Opcode.HelloOk;
        HelloOk = payload;
    }

    /// <summary>
    /// Starts the device call (the range already checked, the Write's data in <see cref="Buffer"/>); the connection
    /// hears of its end through <see cref="ReplicaConnection.DeviceCallCompleted"/>. A Write or Unmap first has the
    /// bits of its regions in <paramref name="intent"/> made durable (at once when they are, the common case); a Flush
    /// takes its generation. A GetExtent asks the device's <see cref="IAllocationMap"/>; a device without one has every
    /// block mapped.
    /// </summary>
    public void Start(IBlockDevice device, bool fua, WriteIntentLog intent)
    {
        _device = device;
        _fua = fua;
        if (Opcode == Opcode.Flush)
        {
            FlushGeneration = intent.FlushStarting();
        }
        else if (Opcode is Opcode.Write or Opcode.Unmap)
        {
            _intent = intent;
            ValueTask persisting;
            try
            {
                persisting = intent.Begin((long)Lba, BlockCount);
            }
            catch (Exception e)
            {
                persisting = ValueTask.FromException(e);
            }

            if (!persisting.IsCompleted)
            {
                // The first change to a region since it settled: its bit goes to disk (with others') first.
                _intentAwaiter = persisting.ConfigureAwait(false).GetAwaiter();
                _intentAwaiter.UnsafeOnCompleted(_onIntentPersisted);
                return;
            }

            if (!persisting.IsCompletedSuccessfully)
            {
                _intentAwaiter = persisting.ConfigureAwait(false).GetAwaiter();
                OnIntentPersisted();
                return;
            }
        }

        StartDevice();
    }

    /// <summary>Answers a GetIntent from <paramref name="intent"/> (the range already checked, <see cref="Buffer"/> sized for it).</summary>
    public void AnswerIntent(WriteIntentLog intent, long answered)
    {
        Intent = new IntentPayload(intent.RegionBytes, intent.Regions, intent.Recovered);
        Intent.Write(Buffer);
        intent.CopyTo((long)Lba, answered, Buffer.AsSpan(IntentPayload.PrefixLength, Length - IntentPayload.PrefixLength));
    }

    private void OnIntentPersisted()
    {
        try
        {
            _intentAwaiter.GetResult();
        }
        catch (Exception e)
        {
            _intentAwaiter = default;
            Fail(BlockDeviceErrorKind.Medium, $"{Opcode} at LBA {Lba} not applied: its write-intent bit could not be kept: {e.Message}");
            Complete();
            return;
        }

        _intentAwaiter = default;
        StartDevice();
    }

    private void StartDevice()
    {
        var device = _device!;
        bool fua = _fua;
        bool completed;
        try
        {
            long lba = (long)Lba;
            if (Opcode == Opcode.GetExtent)
            {
                var extent = device is IAllocationMap map
                    ? map.GetExtentAsync(lba, BlockCount)
                    : new ValueTask<(bool Mapped, long Blocks)>((true, BlockCount));
                _extentAwaiter = extent.ConfigureAwait(false).GetAwaiter();
                completed = _extentAwaiter.IsCompleted;
            }
            else
            {
                var call = Opcode switch
                {
                    Opcode.Read => device.ReadAsync(lba, Buffer.AsMemory(0, Length)),
                    Opcode.Write => device.WriteAsync(lba, Buffer.AsMemory(0, Length), fua ? WriteFlags.Fua : WriteFlags.None),
                    Opcode.Flush => device.FlushAsync(),
                    _ => device.UnmapAsync(lba, BlockCount),
                };
                _awaiter = call.ConfigureAwait(false).GetAwaiter();
                completed = _awaiter.IsCompleted;
            }
        }
        catch (Exception e)
        {
            // Devices check arguments before they return a ValueTask.
            Fail(e);
            Complete();
            return;
        }

        if (completed)
        {
            OnDeviceCompleted();
        }
        else if (Opcode == Opcode.GetExtent)
        {
            _extentAwaiter.UnsafeOnCompleted(_onDeviceCompleted);
        }
        else
        {
            _awaiter.UnsafeOnCompleted(_onDeviceCompleted);
        }
    }

    /// <summary>Answers without calling the device (a range the device does not have).</summary>
    public void Fail(BlockDeviceErrorKind kind, string message)
    {
        Status = kind.ToStatus();
        Message = message;
    }

    private void OnDeviceCompleted()
    {
        try
        {
            if (Opcode == Opcode.GetExtent)
            {
                var (mapped, blocks) = _extentAwaiter.GetResult();
                if (blocks < 1 || blocks > BlockCount)
                {
                    throw new InvalidOperationException($"the allocation map answered {blocks} blocks, not 1-{BlockCount}");
                }

                Extent = new ExtentPayload(mapped, blocks);
            }
            else
            {
                _awaiter.GetResult();
                if (Opcode == Opcode.Read)
                {
                    DataCrc = Crc32C.Compute(Buffer.AsSpan(0, Length));
                }
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }

        _awaiter = default;
        _extentAwaiter = default;
        Complete();
    }

    private void Complete()
    {
        if (_intent is { } intent)
        {
            _intent = null;
            intent.End((long)Lba, BlockCount);
        }

        _device = null;
        _connection.DeviceCallCompleted(this);
    }

    private void Fail(Exception e)
    {
        if (e is BlockDeviceException b)
        {
            Fail(b.Kind, b.Message);
        }
        else
        {
            // Anything else from a device is a failure of its medium as far as the client can tell.
            Fail(BlockDeviceErrorKind.Medium, $"{Opcode} at LBA {Lba} failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Gives the buffer back; the request can be reused.</summary>
    public void Clear()
    {
        if (Buffer is { } b)
        {
            PinnedBufferPool.Shared.Return(b);
            Buffer = null;
        }

        Message = null;
    }
}
