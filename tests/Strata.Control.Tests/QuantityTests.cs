using Strata.Control.Manifests;
using Xunit;

namespace Strata.Control.Tests;

public class QuantityTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("1", 1L)]
    [InlineData("1073741824", 1073741824L)]
    [InlineData("1Ki", 1024L)]
    [InlineData("1Mi", 1048576L)]
    [InlineData("1Gi", 1073741824L)]
    [InlineData("1Ti", 1099511627776L)]
    [InlineData("1Pi", 1125899906842624L)]
    [InlineData("1Ei", 1152921504606846976L)]
    [InlineData("7Ei", 8070450532247928832L)]
    [InlineData("500Mi", 524288000L)]
    [InlineData("1536Mi", 1610612736L)]
    [InlineData("1k", 1000L)]
    [InlineData("1M", 1000000L)]
    [InlineData("10G", 10000000000L)]
    [InlineData("1T", 1000000000000L)]
    [InlineData("1P", 1000000000000000L)]
    [InlineData("1E", 1000000000000000000L)]
    [InlineData("1e9", 1000000000L)]
    [InlineData("1E9", 1000000000L)]
    [InlineData("1e+3", 1000L)]
    [InlineData("2.5e3", 2500L)]
    public void Valid(string text, long bytes)
    {
        Assert.True(Quantity.TryParse(text, out long parsed), text);
        Assert.Equal(bytes, parsed);
        Assert.Equal(bytes, Quantity.Parse(text, "f"));
    }

    [Theory]
    [InlineData("1.5Gi", 1610612736L)]
    [InlineData("0.5Ki", 512L)]
    [InlineData(".5Ki", 512L)]
    [InlineData("1.Ki", 1024L)]
    [InlineData("1.25k", 1250L)]
    [InlineData("20e-1", 2L)]
    [InlineData("1000m", 1L)]
    [InlineData("2000000u", 2L)]
    [InlineData("3000000000n", 3L)]
    [InlineData("+1Gi", 1073741824L)]
    [InlineData("-1Gi", -1073741824L)]
    [InlineData("0.000Gi", 0L)]
    [InlineData("0e999999999999", 0L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    public void FractionsAndSignsThatComeToWholeBytes(string text, long bytes)
    {
        Assert.True(Quantity.TryParse(text, out long parsed), text);
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("", "is not a quantity")]
    [InlineData("1GB", "is not a quantity")]
    [InlineData("1gi", "is not a quantity")]
    [InlineData("1 Gi", "is not a quantity")]
    [InlineData(" 1Gi", "is not a quantity")]
    [InlineData("Gi", "is not a quantity")]
    [InlineData(".", "is not a quantity")]
    [InlineData("1e", "is not a quantity")]
    [InlineData("1Ki1", "is not a quantity")]
    [InlineData("0x10", "is not a quantity")]
    [InlineData("1,5Gi", "is not a quantity")]
    [InlineData("ten", "is not a quantity")]
    [InlineData("1.5", "is not a whole number of bytes")]
    [InlineData("15e-1", "is not a whole number of bytes")]
    [InlineData("1m", "is not a whole number of bytes")]
    [InlineData("0.1Ki", "is not a whole number of bytes")]
    [InlineData("1e-200", "is not a whole number of bytes")]
    [InlineData("8Ei", "is too large (at most 8Ei)")]
    [InlineData("9223372036854775808", "is too large (at most 8Ei)")]
    [InlineData("1e19", "is too large (at most 8Ei)")]
    [InlineData("1e99999999999", "is too large (at most 8Ei)")]
    public void Invalid(string text, string problem)
    {
        Assert.False(Quantity.TryParse(text, out _), text);
        var e = Assert.Throws<ManifestException>(() => Quantity.Parse(text, "spec.resources.requests.storage"));
        Assert.Equal("spec.resources.requests.storage", e.FieldPath);
        Assert.StartsWith($"spec.resources.requests.storage: '{text}' {problem}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheExampleMessage()
    {
        var e = Assert.Throws<ManifestException>(() => Quantity.Parse("1GB", "spec.resources.requests.storage"));
        Assert.Equal("spec.resources.requests.storage: '1GB' is not a quantity (examples: 1Gi, 500Mi, 10G)", e.Message);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1L, "1")]
    [InlineData(1000L, "1000")]
    [InlineData(1024L, "1Ki")]
    [InlineData(1536L, "1536")]
    [InlineData(1048576L, "1Mi")]
    [InlineData(1073741824L, "1Gi")]
    [InlineData(1610612736L, "1536Mi")]
    [InlineData(10737418240L, "10Gi")]
    [InlineData(1099511627776L, "1Ti")]
    [InlineData(3298534883328L, "3Ti")]
    [InlineData(1152921504606846976L, "1Ei")]
    [InlineData(long.MaxValue, "9223372036854775807")]
    [InlineData(-1073741824L, "-1Gi")]
    [InlineData(long.MinValue, "-8Ei")]
    public void Format(long bytes, string text)
    {
        Assert.Equal(text, Quantity.Format(bytes));
        Assert.True(Quantity.TryParse(text, out long back));
        Assert.Equal(bytes, back);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(512L, "512")]
    [InlineData(1023L, "1023")]
    [InlineData(1024L, "1K")]
    [InlineData(1536L, "1.50K")]
    [InlineData(288768L, "282K")] // 282 KiB: the seed's "282K"
    [InlineData(289000L, "282K")]
    [InlineData(1656750L, "1.58M")] // the seed's "1.58M"
    [InlineData(10673041408L, "9.94G")] // the seed's "9.94G"
    [InlineData(10737418240L, "10G")]
    [InlineData(12939428L, "12.3M")]
    [InlineData(10239L, "10.0K")]
    [InlineData(1073741824L, "1G")]
    [InlineData(1099511627776L, "1T")]
    [InlineData(1649267441664L, "1.50T")]
    [InlineData(1125899906842624L, "1P")]
    [InlineData(long.MaxValue, "8.00E")]
    [InlineData(-1536L, "-1.50K")]
    public void FormatHuman(long bytes, string text) => Assert.Equal(text, Quantity.FormatHuman(bytes));
}
