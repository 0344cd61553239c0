using System.Buffers.Binary;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests.Protocol;

/// <summary>
/// Malformed frames for the fuzz tests, each a function of the random generator: random bytes, valid frames with
/// bytes flipped, a header field made invalid (with the header CRC recomputed, so the checks behind it are reached),
/// truncated frames, requests before Hello, a second Hello, opcodes only a server sends, and writes and GetExtents
/// out of range.
/// None of them may change the device (of <see cref="BlockSize"/> x <see cref="Blocks"/>).
/// </summary>
internal static class FuzzFrames
{
    public const int BlockSize = 512;
    public const long Blocks = 64;

    public enum Kind
    {
        Random,
        Flipped,
        BadField,
        Truncated,
        BeforeHello,
        SecondHello,
        ServerOpcode,
        OutOfRange,
    }

    public sealed record Episode(byte[] Bytes, bool SayHelloFirst);

    public static Episode Next(Random r, out Kind kind)
    {
        kind = (Kind)r.Next(Enum.GetValues<Kind>().Length);
        return kind switch
        {
            Kind.Random => new(RandomBytes(r), r.Next(2) == 0),
            Kind.Flipped => new(Flip(r, ValidRequest(r)), true),
            Kind.BadField => new(BadField(r), true),
            Kind.Truncated => new(Truncate(r, ValidWrite(r)), true),
            Kind.BeforeHello => new(ValidRequest(r), false),
            Kind.SecondHello => new(Frames.Hello("v", r.Next(1, 3), (ulong)r.Next(100)), true),
            Kind.ServerOpcode => new(ServerOpcode(r), true),
            _ => new(OutOfRange(r), true),
        };
    }

    private static byte[] RandomBytes(Random r)
    {
        var bytes = new byte[r.Next(1, 200)];
        r.NextBytes(bytes);
        if (r.Next(2) == 0 && bytes.Length >= 6)
        {
            // A plausible start: the magic and version, so the header CRC check is what refuses it.
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, FrameHeader.Magic);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), FrameHeader.CurrentVersion);
        }

        return bytes;
    }

    public static byte[] ValidWrite(Random r)
    {
        uint blocks = (uint)r.Next(1, 9);
        var data = new byte[blocks * BlockSize];
        r.NextBytes(data);
        ulong lba = (ulong)r.NextInt64(0, Blocks - blocks + 1);
        return Frames.Frame(Opcode.Write, (byte)(r.Next(2) == 0 ? FrameFlags.Fua : FrameFlags.None), (ulong)r.NextInt64(), lba, blocks, data);
    }

    private static byte[] ValidRequest(Random r) => r.Next(5) switch
    {
        0 => Frames.Frame(Opcode.Unmap, 0, (ulong)r.Next(), (ulong)r.Next(0, 32), (uint)r.Next(1, 32), []),
        1 => Frames.Frame(Opcode.GetExtent, 0, (ulong)r.Next(), (ulong)r.Next(0, 32), (uint)r.Next(1, 32), []),
        _ => ValidWrite(r),
    };

    /// <summary>1-4 distinct bytes XORed with non-zero values: CRC32C catches every such change of a frame this short.</summary>
    private static byte[] Flip(Random r, byte[] frame)
    {
        int flips = r.Next(1, 5);
        var positions = new HashSet<int>();
        while (positions.Count < flips)
        {
            // Mostly in the header, where the fields are.
            positions.Add(r.Next(2) == 0 ? r.Next(FrameHeader.Size) : r.Next(frame.Length));
        }

        foreach (int p in positions)
        {
            frame[p] ^= (byte)r.Next(1, 256);
        }

        return frame;
    }

    private static byte[] BadField(Random r)
    {
        var frame = ValidWrite(r);
        uint blocks = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(24));
        switch (r.Next(8))
        {
            case 0:
                BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)r.Next() & ~1u); // never "STRP", which is odd
                break;
            case 1:
                BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), (ushort)r.Next(2, 65536));
                break;
            case 2:
                frame[6] = (byte)(r.Next(2) == 0 ? 0 : r.Next(10, 256));
                break;
            case 3:
                frame[7] = (byte)r.Next(2, 256); // a flag bit other than FUA
                break;
            case 4:
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(28), (uint)r.NextInt64(FrameHeader.MaxPayload + 1L, uint.MaxValue + 1L));
                break;
            case 5:
                // The block count disagrees with the payload.
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(24), r.Next(2) == 0 ? blocks + 1 : blocks - 1);
                break;
            case 6:
                frame[32] ^= (byte)r.Next(1, 256); // the payload CRC field
                break;
            default:
                // A Read whose data would exceed the payload limit.
                frame = Frames.Frame(Opcode.Read, 0, 1, 0, (uint)r.NextInt64(FrameHeader.MaxPayload / BlockSize + 1, uint.MaxValue), []);
                break;
        }

        return FrameCodecTests.Refix(frame);
    }

    private static byte[] Truncate(Random r, byte[] frame) => frame[..r.Next(1, frame.Length)];

    private static byte[] ServerOpcode(Random r) => r.Next(2) == 0
        ? Frames.Frame(Opcode.Response, 0, 1, 0, 0, new byte[r.Next(0, 100)])
        : Frames.Frame(Opcode.HelloOk, 0, 0, 0, 0, new byte[HelloOkPayload.Length]);

    /// <summary>A well-formed Write or GetExtent whose range runs past the end of the device.</summary>
    private static byte[] OutOfRange(Random r)
    {
        uint blocks = (uint)r.Next(1, 9);
        ulong lba = r.Next(2) == 0 ? (ulong)(Blocks - blocks + 1) + (ulong)r.Next(100) : (ulong)r.NextInt64() | (1UL << 63);
        return r.Next(4) == 0
            ? Frames.Frame(Opcode.GetExtent, 0, 77, lba, blocks, [])
            : Frames.Frame(Opcode.Write, 0, 77, lba, blocks, new byte[blocks * BlockSize]);
    }
}
