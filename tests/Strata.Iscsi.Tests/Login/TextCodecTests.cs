using System.Text;
using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

public sealed class TextCodecTests
{
    [Fact]
    public void Parse_splits_pairs_at_nulls_and_keys_at_the_first_equals()
    {
        var pairs = new List<TextKeyValue>();
        Assert.Equal(TextFormatError.None, KeyValueParser.Parse(Kit.Text("A=1", "TargetAddress=[::1]:3260,1", "X-a=b=c"), pairs));
        Assert.Equal(
            [new("A", "1"), new("TargetAddress", "[::1]:3260,1"), new("X-a", "b=c")],
            pairs);
    }

    [Fact]
    public void Parse_accepts_empty_values_utf8_and_skips_extra_nulls()
    {
        var pairs = new List<TextKeyValue>();
        byte[] text = [.. Kit.Text("SendTargets=", "InitiatorAlias=hôte"), 0, 0];
        Assert.Equal(TextFormatError.None, KeyValueParser.Parse(text, pairs));
        Assert.Equal([new("SendTargets", ""), new("InitiatorAlias", "hôte")], pairs);
    }

    [Theory]
    [InlineData("A=1\0B=2", TextFormatError.MissingTerminator)]
    [InlineData("A1\0", TextFormatError.MissingEquals)]
    [InlineData("=1\0", TextFormatError.EmptyKey)]
    public void Parse_reports_malformed_text(string text, TextFormatError expected)
    {
        Assert.Equal(expected, KeyValueParser.Parse(Encoding.UTF8.GetBytes(text), []));
    }

    [Fact]
    public void Parse_limits_keys_to_63_bytes_and_values_to_8192()
    {
        Assert.Equal(TextFormatError.None, KeyValueParser.Parse(Kit.Text(new string('K', 63) + "=1"), []));
        Assert.Equal(TextFormatError.KeyTooLong, KeyValueParser.Parse(Kit.Text(new string('K', 64) + "=1"), []));
        Assert.Equal(TextFormatError.None, KeyValueParser.Parse(Kit.Text("CHAP_C=" + new string('a', 8192)), []));
        Assert.Equal(TextFormatError.ValueTooLong, KeyValueParser.Parse(Kit.Text("CHAP_C=" + new string('a', 8193)), []));
    }

    [Fact]
    public void Parse_rejects_invalid_utf8()
    {
        byte[] text = [(byte)'A', (byte)'=', 0xC3, 0x28, 0];
        Assert.Equal(TextFormatError.InvalidUtf8, KeyValueParser.Parse(text, []));
    }

    [Fact]
    public void Builder_writes_null_terminated_pairs_and_is_reusable()
    {
        var builder = new KeyValueBuilder(initialCapacity: 4);
        builder.Add("MaxBurstLength", 262144);
        builder.Add("InitialR2T", false);
        builder.AddHex("CHAP_C", [0xde, 0xad, 0x01]);
        Assert.Equal("MaxBurstLength=262144\0InitialR2T=No\0CHAP_C=0xdead01\0", Encoding.UTF8.GetString(builder.WrittenSpan));

        builder.Clear();
        Assert.Equal(0, builder.Length);
        builder.Add("A", "b");
        Assert.Equal("A=b\0", Encoding.UTF8.GetString(builder.ToArray()));
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("262144", 262144UL)]
    [InlineData("0x40000", 262144UL)]
    [InlineData("0X40000", 262144UL)]
    [InlineData("0bAAQAAA==", 262144UL)]
    [InlineData("0bAAQAAA", 262144UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("0x00000000000000000001", 1UL)]
    public void Numerical_values_in_decimal_hex_and_base64(string text, ulong expected)
    {
        Assert.True(NumericalValue.TryParse(text, out ulong value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("1e3")]
    [InlineData("18446744073709551616")]
    [InlineData("0x1ffffffffffffffff")]
    [InlineData("0x")]
    [InlineData("0xZZ")]
    [InlineData("Reject")]
    public void Numerical_values_that_are_malformed_or_too_big(string text)
    {
        Assert.False(NumericalValue.TryParse(text, out _));
    }

    [Fact]
    public void Numerical_range_is_inclusive()
    {
        Assert.True(NumericalValue.TryParse("512", 512, 16777215, out long low));
        Assert.Equal(512, low);
        Assert.True(NumericalValue.TryParse("16777215", 512, 16777215, out _));
        Assert.False(NumericalValue.TryParse("511", 512, 16777215, out _));
        Assert.False(NumericalValue.TryParse("16777216", 512, 16777215, out _));
    }

    [Fact]
    public void Binary_values_in_hex_odd_hex_and_base64()
    {
        Assert.True(BinaryValue.TryDecode("0xA1b2", out byte[] hex));
        Assert.Equal([0xa1, 0xb2], hex);
        Assert.True(BinaryValue.TryDecode("0xabc", out byte[] odd));
        Assert.Equal([0x0a, 0xbc], odd);
        Assert.True(BinaryValue.TryDecode("0bAQID", out byte[] b64));
        Assert.Equal([1, 2, 3], b64);
        Assert.True(BinaryValue.TryDecode("0BAQI", out byte[] unpadded));
        Assert.Equal([1, 2], unpadded);
        Assert.False(BinaryValue.TryDecode("abcd", out _));
        Assert.False(BinaryValue.TryDecode("0x", out _));
        Assert.False(BinaryValue.TryDecode("0b!!", out _));
        Assert.Equal("0x00ff10", BinaryValue.FormatHex([0x00, 0xff, 0x10]));
    }

    [Fact]
    public void Booleans_are_case_sensitive_yes_and_no()
    {
        Assert.True(BooleanValue.TryParse("Yes", out bool yes) && yes);
        Assert.True(BooleanValue.TryParse("No", out bool no) && !no);
        Assert.False(BooleanValue.TryParse("yes", out _));
        Assert.False(BooleanValue.TryParse("True", out _));
    }
}
