using System.Security.Cryptography;

namespace Strata.Iscsi.Login;

/// <summary>
/// CHAP_A values: the PPP CHAP algorithm numbers (RFC 7143 12.1.3, IANA "PPP Authentication Algorithms"),
/// numbered as libiscsi (5 = MD5, lib/login.c) and Linux LIO (5, 6, 7, 8 in iscsi_target_auth.h) number them.
/// </summary>
public enum ChapAlgorithm
{
    Md5 = 5,
    Sha1 = 6,
    Sha256 = 7,
}

/// <summary>The CHAP response of RFC 1994 4.1: the hash of Identifier, secret and Challenge, in that order.</summary>
public static class ChapDigest
{
    public static bool IsSupported(long algorithm) =>
        algorithm is (long)ChapAlgorithm.Md5 or (long)ChapAlgorithm.Sha1 or (long)ChapAlgorithm.Sha256;

    /// <summary>The digest length, which is also the length of the challenges we issue (as LIO does).</summary>
    public static int Length(ChapAlgorithm algorithm) => algorithm switch
    {
        ChapAlgorithm.Md5 => MD5.HashSizeInBytes,
        ChapAlgorithm.Sha1 => SHA1.HashSizeInBytes,
        ChapAlgorithm.Sha256 => SHA256.HashSizeInBytes,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    public static byte[] Compute(ChapAlgorithm algorithm, byte identifier, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> challenge)
    {
        byte[] input = new byte[1 + secret.Length + challenge.Length];
        input[0] = identifier;
        secret.CopyTo(input.AsSpan(1));
        challenge.CopyTo(input.AsSpan(1 + secret.Length));
        try
        {
#pragma warning disable CA5350, CA5351 // MD5 and SHA-1 are what CHAP_A=5 and 6 mean; initiators still use them.
            return algorithm switch
            {
                ChapAlgorithm.Md5 => MD5.HashData(input),
                ChapAlgorithm.Sha1 => SHA1.HashData(input),
                ChapAlgorithm.Sha256 => SHA256.HashData(input),
                _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
            };
#pragma warning restore CA5350, CA5351
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }
}
