using System.Text;
using Strata.Iscsi.Pdu;
using Xunit;

namespace Strata.Iscsi.Tests.Pdu;

public sealed class Crc32CTests
{
    // RFC 3720 Appendix B.4 (the CRC32C examples iSCSI digests are checked against), and the classic check value.
    [Theory]
    [InlineData(32, 0x00, 0x8A9136AAu)]
    [InlineData(32, 0xFF, 0x62A8AB43u)]
    public void Matches_the_RFC_3720_examples(int length, byte fill, uint expected)
    {
        var data = new byte[length];
        data.AsSpan().Fill(fill);
        Assert.Equal(expected, Crc32C.Compute(data));
    }

    [Fact]
    public void Matches_the_RFC_3720_incrementing_and_decrementing_examples()
    {
        var up = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var down = Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray();
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(up));
        Assert.Equal(0x113FDB5Cu, Crc32C.Compute(down));
    }

    [Fact]
    public void Matches_the_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact]
    public void Appending_equals_computing_over_the_whole()
    {
        var data = new byte[1001];
        new Random(7).NextBytes(data);
        for (int split = 0; split <= data.Length; split += 77)
        {
            Assert.Equal(Crc32C.Compute(data), Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
        }
    }
}
