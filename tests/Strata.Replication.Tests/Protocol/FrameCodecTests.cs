using System.Buffers;
using System.Buffers.Binary;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests.Protocol;

public sealed class FrameCodecTests
{
    [Theory]
    [InlineData(Opcode.Read, 0, 0)]
    [InlineData(Opcode.Write, 0, 4096)]
    [InlineData(Opcode.Write, (byte)FrameFlags.Fua, 512)]
    [InlineData(Opcode.Flush, 0, 0)]
    [InlineData(Opcode.Unmap, 0, 0)]
    [InlineData(Opcode.GetExtent, 0, 0)]
    [InlineData(Opcode.GetIntent, 0, 0)]
    [InlineData(Opcode.Settle, 0, 0)]
    [InlineData(Opcode.Response, (byte)ReplicaStatus.Ok, 8192)]
    [InlineData(Opcode.Response, (byte)ReplicaStatus.Ok, ExtentPayload.Length)]
    [InlineData(Opcode.Response, (byte)ReplicaStatus.Fenced, 30)]
    [InlineData(Opcode.Response, (byte)ReplicaStatus.ProtocolError, 10)]
    public void A_frame_round_trips(Opcode opcode, byte flags, int payloadLength)
    {
        var payload = new byte[payloadLength];
        Random.Shared.NextBytes(payload);
        ulong lba = opcode is Opcode.Flush or Opcode.Settle ? 0UL : 0x0102030405060708UL;
        uint blocks = opcode is Opcode.Flush or Opcode.Settle ? 0 : 0xA0B0C0D0;
        var bytes = Frames.Frame(opcode, flags, 0xFEEDFACECAFEBEEF, lba, blocks, payload);
        Assert.Equal(FrameHeader.Size + payloadLength, bytes.Length);

        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameCodec.TryReadFrame(ref buffer, out var header, out var body));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(opcode, header.Opcode);
        Assert.Equal(flags, header.Flags);
        Assert.Equal(0xFEEDFACECAFEBEEF, header.RequestId);
        Assert.Equal(lba, header.Lba);
        Assert.Equal(blocks, header.BlockCount);
        Assert.Equal(payload, body.ToArray());
    }

    [Fact]
    public void The_header_is_little_endian_and_starts_with_STRP()
    {
        var bytes = Frames.Frame(Opcode.Write, (byte)FrameFlags.Fua, 7, 9, 1, new byte[512]);
        Assert.Equal("STRP"u8.ToArray(), bytes[..4]);
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4)));
        Assert.Equal((byte)Opcode.Write, bytes[6]);
        Assert.Equal(1, bytes[7]);
        Assert.Equal(7UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(9UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)));
        Assert.Equal(1U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(24)));
        Assert.Equal(512U, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(28)));
        Assert.Equal(Crc32C.Compute(new byte[512]), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(32)));
        Assert.Equal(Crc32C.Compute(bytes.AsSpan(0, 36)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(36)));
    }

    [Fact]
    public void Hello_and_HelloOk_payloads_round_trip()
    {
        var hello = new HelloPayload(1, 42, "pvc-1f2e3d4c-ünïcode");
        var bytes = Frames.Frame(Opcode.Hello, 0, 0, 0, 0, hello.Encode());
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameCodec.TryReadFrame(ref buffer, out var header, out var payload));
        Assert.Equal(hello, HelloPayload.Decode(payload, header.RequestId));

        var ok = new HelloOkPayload(1, 4096, 1L << 40);
        var okBytes = new byte[HelloOkPayload.Length];
        ok.Write(okBytes);
        Assert.Equal(ok, HelloOkPayload.Decode(new ReadOnlySequence<byte>(okBytes)));
    }

    [Fact]
    public void An_extent_answer_round_trips_and_an_impossible_one_is_refused()
    {
        foreach (var extent in new[] { new ExtentPayload(true, 1), new ExtentPayload(false, 0xA0B0C0D0), new ExtentPayload(true, 77) })
        {
            var bytes = new byte[ExtentPayload.Length];
            extent.Write(bytes);
            Assert.Equal(extent.Mapped ? 1 : 0, bytes[0]);
            Assert.Equal(extent.Blocks, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(1)));
            var frame = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Response, 0, 3, 8, 0xA0B0C0D0, bytes));
            Assert.True(FrameCodec.TryReadFrame(ref frame, out var header, out var payload));
            Assert.Equal(extent, ExtentPayload.Decode(payload, header.BlockCount, header.RequestId));
        }

        var good = new byte[ExtentPayload.Length];
        new ExtentPayload(true, 5).Write(good);
        Assert.Throws<ReplicaProtocolException>(() => ExtentPayload.Decode(new ReadOnlySequence<byte>(good), 4, 1)); // more than asked
        Assert.Throws<ReplicaProtocolException>(() => ExtentPayload.Decode(new ReadOnlySequence<byte>(good[..8]), 10, 1));
        var zero = new byte[ExtentPayload.Length];
        new ExtentPayload(false, 0).Write(zero);
        Assert.Throws<ReplicaProtocolException>(() => ExtentPayload.Decode(new ReadOnlySequence<byte>(zero), 10, 1));
        good[0] = 2;
        Assert.Throws<ReplicaProtocolException>(() => ExtentPayload.Decode(new ReadOnlySequence<byte>(good), 10, 1));
    }

    [Fact]
    public void A_frame_split_over_segments_and_arriving_byte_by_byte_decodes_once_whole()
    {
        var payload = new byte[3 * 512];
        Random.Shared.NextBytes(payload);
        var bytes = Frames.Frame(Opcode.Write, 0, 5, 10, 3, payload).Concat(Frames.Frame(Opcode.Flush, 0, 6, 0, 0, [])).ToArray();

        // Every prefix shorter than the first frame is incomplete, not an error.
        for (int n = 0; n < FrameHeader.Size + payload.Length; n++)
        {
            var partial = new ReadOnlySequence<byte>(bytes, 0, n);
            Assert.False(FrameCodec.TryReadFrame(ref partial, out _, out _));
            Assert.Equal(n, partial.Length);
        }

        // Seven-byte segments: the header and the payload straddle them.
        var sequence = Segments.Of(bytes, 7);
        Assert.True(FrameCodec.TryReadFrame(ref sequence, out var first, out var body));
        Assert.Equal(Opcode.Write, first.Opcode);
        Assert.Equal(payload, body.ToArray());
        Assert.True(FrameCodec.TryReadFrame(ref sequence, out var second, out _));
        Assert.Equal(Opcode.Flush, second.Opcode);
        Assert.True(sequence.IsEmpty);
    }

    public static TheoryData<string, Func<byte[], byte[]>> Malformed => new()
    {
        { "bad magic", b => Patch(b, 0, 0x58) },
        { "version", b => Refix(Patch(b, 4, 1)) }, // protocol 1, before GetIntent and Settle
        { "header CRC", b => Patch(b, 36, (byte)(b[36] ^ 1)) },
        { "payload CRC", b => Patch(b, FrameHeader.Size + 3, (byte)(b[FrameHeader.Size + 3] ^ 0x40)) },
        { "payload CRC field", b => Refix(Patch(b, 32, (byte)(b[32] ^ 1))) },
        { "unknown opcode", b => Refix(Patch(b, 6, 99)) },
        { "opcode 0", b => Refix(Patch(b, 6, 0)) },
        { "unknown Write flag", b => Refix(Patch(b, 7, 0x02)) },
        { "oversize payload", b => Refix(SetU32(b, 28, FrameHeader.MaxPayload + 1)) },
        { "huge payload", b => Refix(SetU32(b, 28, uint.MaxValue)) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_frame_is_a_protocol_error(string what, Func<byte[], byte[]> mutate)
    {
        var payload = new byte[4096];
        Random.Shared.NextBytes(payload);
        var bytes = mutate(Frames.Frame(Opcode.Write, 0, 11, 1, 1, payload));
        var buffer = new ReadOnlySequence<byte>(bytes);
        var e = Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref buffer, out _, out _));
        Assert.False(string.IsNullOrEmpty(e.Message), what);
    }

    [Fact]
    public void Garbage_is_refused_from_its_first_bytes_without_waiting_for_a_header()
    {
        var garbage = new ReadOnlySequence<byte>("GET / HTTP/1.1"u8.ToArray()[..3]);
        Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref garbage, out _, out _));

        var wrongVersion = new ReadOnlySequence<byte>([(byte)'S', (byte)'T', (byte)'R', (byte)'P', 9, 0]);
        Assert.Contains("version 9", Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref wrongVersion, out _, out _)).Message);

        // A start that may still become a frame is only incomplete.
        foreach (int n in new[] { 1, 2, 4, 6, 39 })
        {
            var start = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Flush, 0, 1, 0, 0, [])[..n]);
            Assert.False(FrameCodec.TryReadFrame(ref start, out _, out _));
        }
    }

    [Fact]
    public void An_oversize_payload_is_refused_from_the_header_alone()
    {
        var header = Refix(SetU32(Frames.Frame(Opcode.Write, 0, 1, 0, 1, new byte[512])[..FrameHeader.Size], 28, FrameHeader.MaxPayload + 512));
        var buffer = new ReadOnlySequence<byte>(header);
        var e = Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref buffer, out _, out _));
        Assert.Contains("exceeds", e.Message);
        Assert.Equal(1UL, e.RequestId);
    }

    [Theory]
    [InlineData(Opcode.Read, 1, 0)]       // flags on a Read
    [InlineData(Opcode.Flush, 0, 5)]      // an LBA on a Flush
    [InlineData(Opcode.Goodbye, 0, 1)]
    [InlineData(Opcode.GetExtent, 1, 0)]  // flags on a GetExtent
    public void Fields_an_opcode_does_not_take_must_be_zero(Opcode opcode, byte flags, ulong lba)
    {
        var bytes = Frames.Frame(opcode, flags, 1, lba, 0, []);
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref buffer, out _, out _));
    }

    [Fact]
    public void A_read_with_a_payload_and_a_bad_hello_are_refused()
    {
        var read = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Read, 0, 1, 0, 1, new byte[4]));
        Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref read, out _, out _));

        // A GetExtent carries no payload and asks about at least one block.
        var extent = new ReadOnlySequence<byte>(Frames.Frame(Opcode.GetExtent, 0, 1, 0, 1, new byte[4]));
        Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref extent, out _, out _));
        var none = new ReadOnlySequence<byte>(Frames.Frame(Opcode.GetExtent, 0, 1, 5, 0, []));
        Assert.Contains("at least 1 block", Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref none, out _, out _)).Message);

        var shortHello = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Hello, 0, 0, 0, 0, new byte[10]));
        Assert.Throws<ReplicaProtocolException>(() => FrameCodec.TryReadFrame(ref shortHello, out _, out _));

        var badUtf8 = new byte[12];
        badUtf8[10] = 0xC3; // a lead byte with no continuation
        badUtf8[11] = 0x28;
        var hello = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Hello, 0, 0, 0, 0, badUtf8));
        Assert.True(FrameCodec.TryReadFrame(ref hello, out var h, out var p));
        Assert.Throws<ReplicaProtocolException>(() => HelloPayload.Decode(p, h.RequestId));

        var negativeEpoch = new byte[11];
        BinaryPrimitives.WriteUInt64LittleEndian(negativeEpoch.AsSpan(2), ulong.MaxValue);
        negativeEpoch[10] = (byte)'v';
        var hello2 = new ReadOnlySequence<byte>(Frames.Frame(Opcode.Hello, 0, 0, 0, 0, negativeEpoch));
        Assert.True(FrameCodec.TryReadFrame(ref hello2, out h, out p));
        Assert.Throws<ReplicaProtocolException>(() => HelloPayload.Decode(p, h.RequestId));
    }

    /// <summary>
    /// 20,000 random and mutated byte strings into the decoder: it returns frames, asks for more, or throws
    /// <see cref="ReplicaProtocolException"/>; nothing else, whatever the bytes.
    /// </summary>
    [Fact]
    public void Decoding_random_and_mutated_bytes_throws_only_protocol_errors()
    {
        var random = new Random(20261126);
        int refused = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var bytes = FuzzFrames.Next(random, out _).Bytes;
            var buffer = random.Next(4) == 0 ? Segments.Of(bytes, random.Next(1, 50)) : new ReadOnlySequence<byte>(bytes);
            try
            {
                while (FrameCodec.TryReadFrame(ref buffer, out var header, out var payload))
                {
                    if (header.Opcode == Opcode.Hello)
                    {
                        HelloPayload.Decode(payload, header.RequestId);
                    }
                }
            }
            catch (ReplicaProtocolException)
            {
                refused++;
            }
        }

        Assert.True(refused > 5_000, $"only {refused} refused");
    }

    private static byte[] Patch(byte[] b, int offset, byte value)
    {
        b[offset] = value;
        return b;
    }

    private static byte[] SetU32(byte[] b, int offset, long value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), (uint)value);
        return b;
    }

    /// <summary>Recomputes the header CRC, so the checks behind it are reached.</summary>
    internal static byte[] Refix(byte[] b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), Crc32C.Compute(b.AsSpan(0, 36)));
        return b;
    }
}

/// <summary>Builds a ReadOnlySequence of fixed-size segments.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(byte[] bytes, int size)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segments(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
        var last = first;
        for (int offset = size; offset < bytes.Length; offset += size)
        {
            var next = new Segments(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)), offset);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
