"""Pinned Debian bookworm (amd64) packages of headless Chromium, its driver and their libraries.

Written by ``python -m jaxenhance.study.browser pin`` (which prints this table for the versions the
archive holds now); ``browser.py`` reads it. Columns: package, version, size of the ``.deb`` in
bytes, its sha256, and the shared libraries (sonames) it provides that Chromium, chromedriver or
another package here links against. The libraries are the full link closure of the three
Chromium packages on bookworm (libc6 excepted); ``browser.py`` fetches only those whose sonames
the machine lacks. A package may be pinned at more than one version (first one the archive still
serves wins; Chromium, its common files and its driver always at one version): Chromium moves
quickly through bookworm-security, which keeps one version, so the newest pin goes stale in weeks
and the point release's copy in months; refresh the table with the command above.
"""

ARCH = "amd64"

TABLE = """
chromium 156.0.8078.114-1~deb12u1 81193668 0a8cda4db34125e8cd0cb710c3379538bb94f06eb5cc440d921860bcdc2273e7 -
chromium-common 156.0.8078.114-1~deb12u1 31612580 fe9713b01e8336384848ca9ff4c073d9a36113c71ebf6e1f1e54e8d294b675ae -
chromium-driver 156.0.8078.114-1~deb12u1 8639352 c6553d46d87be779fbc5717e6377f0491b7211061ee158c88e372446958bd896 -
chromium 150.0.7871.100-1~deb12u1 76826468 9eb054fb52bbcd7a8c6407484be2337298ff8b1e19af14af2e7b497fa190ce4f -
chromium-common 150.0.7871.100-1~deb12u1 26635660 31326f6b71ce20a52e7bea9792bf7135d4ff802e1cdbc250960b1b46729998d2 -
chromium-driver 150.0.7871.100-1~deb12u1 8105484 aeb73e35cfe9784afaae740502141cf05fb310f8e5ab1c7d6a50aaa7d997ce6f -
libasound2 1.2.8-1+b1 361788 44c77b076a7b11ae99712439022d822245b1994c435da564ebd320bb676faf4c libasound.so.2
libasyncns0 0.8-6+b3 12920 cadaff99f4178b1f580331045621b363abaaefc994e78eecba1857774a3cead2 libasyncns.so.0
libatk-bridge2.0-0 2.46.0-5 64592 fbb07714fdd3fdee7b63fd8595053f4fa8021d8e350a5de6281c6ce7cd4f158f libatk-bridge-2.0.so.0
libatk1.0-0 2.46.0-5 49628 909dd661e03760a9ba1529bfc772f259cec8431999ee38b7c5521186237cdd98 libatk-1.0.so.0
libatspi2.0-0 2.46.0-5 75404 1c0332f3b712a8e5ee56800bbcab83a8f92098874094f2b0bdfd6b7fd45e8b83 libatspi.so.0
libavahi-client3 0.8-10+deb12u1 45756 a99d635f07a49cfbd24de151155c4f815a5adf867855e7ba13ecc3b25ffa52b9 libavahi-client.so.3
libavahi-common3 0.8-10+deb12u1 42112 0c12791afe1be09d8362161244d7a51e82a67a55f3909f4c29ee3dd424c3a5f1 libavahi-common.so.3
libblkid1 2.38.1-5+deb12u3 147380 5a083377f29191cafcdf0f91ec124349b4a7895b531556633a136e43c6d53943 libblkid.so.1
libbrotli1 1.0.9-2+deb12u1 274704 e27b3d655fa6fadd7a56f706687e94573c0af68b7d6df394a32a381a3a6c6d8b libbrotlicommon.so.1,libbrotlidec.so.1
libbsd0 0.11.7-2 117416 bb31cc8b40f962a85b2cec970f7f79cc704a1ae4bad24257a822055404b2c60b libbsd.so.0
libcairo2 1.16.0-7 574676 927fa059f8b5791d0cd744d4e3a8c57fa872ef849ce14434dc2222ac8a076a69 libcairo.so.2
libcap2 1:2.66-4+deb12u3+b1 27708 8d684c673e7483802a5c447834b0df6fce006eb3a7109e1be412f5ad425bb24f libcap.so.2
libcom-err2 1.47.0-2+b2 20044 a2bac7015e78fbc0c504df3e441f3a22292f1d2d77f9ccda760057f3690e22f2 libcom_err.so.2
libcups2 2.4.2-3+deb12u9 245180 8dbfd3b7cd81166a2d79bb7e3898b0203fec05c7e927f60e207122a1e36b95c8 libcups.so.2
libdatrie1 0.2.13-2+b1 43320 f021f193384929989b2dfd19f606a8cebe54b5f209fe387fc40683e810e01ebe libdatrie.so.1
libdav1d6 1.0.0-2+deb12u1 513432 197f08108242177aeae4c04aac11825c39b7d18598191ab769f910687ccb387f libdav1d.so.6
libdbus-1-3 1.14.10-1~deb12u1 201240 18ee0ce5fab9f7b671e87da1e9fa18660e36e04a3402f24bdb8635e0ba1d35f6 libdbus-1.so.3
libdouble-conversion3 3.2.1-1 41460 802b880ed900e4a8d54bab77b7551a7f3408b04891c3e5650fdc2368cc1fbc0a libdouble-conversion.so.3
libdrm2 2.4.114-1+b1 37472 be18fb670797ba32da9628cf3e8acd83160d8db8c8dd842501dd8e401c3b5371 libdrm.so.2
libexpat1 2.5.0-1+deb12u5 107940 cae5ded666d8573dd33060bc66fbac21eea8b101a6b56e2af8bd590fcfa65d79 libexpat.so.1
libffi8 3.4.4-1 22856 6d9f6c25c30efccce6d4bceaa48ea86c329a3432abb360a141f76ac223a4c34a libffi.so.8
libflac12 1.4.2+ds-2 198124 4d8431c274eef13ec9ee2c0bf988c34b4342367dec053b7f69a432525be5b1fe libFLAC.so.12
libfontconfig1 2.14.1-4 385664 16ee38d374e064f534116dc442b086ef26f9831f1c0af7e5fb4fe4512e700649 libfontconfig.so.1
libfreetype6 2.12.1+dfsg-5+deb12u4 397736 8043e479f73f29992d652e3f9dfe8b17f9780c7ea6330afe379ec5f9f188ac44 libfreetype.so.6
libfribidi0 1.0.8-2.1 64952 87fce56627aab7b2968501d370aa3ed6d1c792119efa765e71a690bdfe570e62 libfribidi.so.0
libgbm1 22.3.6-1+deb12u2 38132 4323840f2b7b3e108990848529125d99c0956ae5a854c1e0568ed08c8faeaa2e libgbm.so.1
libgcc-s1 12.2.0-14+deb12u1 49856 3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7 libgcc_s.so.1
libgcrypt20 1.10.1-3+deb12u1 696204 e7a56552139c693904a6f9712234c05fe918353273a7cbdb5e62f423ad71bb97 libgcrypt.so.20
libglib2.0-0 2.74.6-2+deb12u9 1403216 7ff85197685d89e150e342b29a59aab1beee400050ba7da73de81cd999ffee5a libgio-2.0.so.0,libglib-2.0.so.0,libgmodule-2.0.so.0,libgobject-2.0.so.0
libgmp10 2:6.2.1+dfsg1-1.1 562588 187aedef2ed763f425c1e523753b9719677633c7eede660401739e9c893482bd libgmp.so.10
libgnutls30 3.7.9-2+deb12u7 1409084 30abec8c824feb1d2d7e9000a34083cccd19d139625e1b21547e3ac53b922f8e libgnutls.so.30
libgpg-error0 1.46-1 76888 89944ee11d7370ce6ef46fc52f094c4a6512eff8943ec4c6ebefeae6360ceada libgpg-error.so.0
libgraphite2-3 1.3.14-1+deb12u1 74564 c19a7f6ba9298db7eef041ae27b08985f2c02009e418063f8bccdb5bc5e858dc libgraphite2.so.3
libgssapi-krb5-2 1.20.1-2+deb12u5 135168 d8b87aea91b956b416c01a28c44ff6228315ae3b73de40acddac3dc5043607d2 libgssapi_krb5.so.2
libharfbuzz-subset0 6.0.0+dfsg-3 1931236 020de1eeba5fb56052a6ca71b259f8cbe3f6fce5038f4caca751c7e4867ca33f libharfbuzz-subset.so.0
libharfbuzz0b 6.0.0+dfsg-3 1945396 bfce132b7ee67b9c2d2166075b1936a25c8cc6866b6a049f99b8e94baa916e71 libharfbuzz.so.0
libhogweed6 3.8.1-2 327524 ed8185c28b2cb519744a5a462dcd720d3b332c9b88a1d0002eac06dc8550cb94 libhogweed.so.6
libidn2-0 2.3.3-1+b1 123636 d50716d5824083d667427817d506b45d3f59dc77e1ca52de000f3f62d4918afa libidn2.so.0
libjpeg62-turbo 1:2.1.5-2 166332 95ec30140789a342add8f8371ed018924de51b539056522b66f207b25cba9cad libjpeg.so.62
libk5crypto3 1.20.1-2+deb12u5 79712 7b6e47d15c5c9cdcd456137533d8308aeba608a54cec73b28bd59bfc4b54cf06 libk5crypto.so.3
libkeyutils1 1.6.3-2 8808 cfac89e6a7a54ff3c6a4f843310e25efeddaa771baeae470bd98bd588c373563 libkeyutils.so.1
libkrb5-3 1.20.1-2+deb12u5 332280 c90801be09701af221b54dd502a59cb378b7284ff31e480738baca317d2f7653 libkrb5.so.3
libkrb5support0 1.20.1-2+deb12u5 33212 8b9c05f2d8d461a10d657b118f572af5bf8fd6c8f93dcef81e852c5ab0f428ab libkrb5support.so.0
liblcms2-2 2.14-2+deb12u1 153540 333efe13d165b8a98194d95e72fd10b502ebbee4dc2eb43fc2ab83e2b53e5f17 liblcms2.so.2
liblz4-1 1.9.4-1 62884 64cde86cef1deaf828bd60297839b59710b5cd8dc50efd4f12643caaee9389d3 liblz4.so.1
liblzma5 5.4.1-1+deb12u2 205796 3d8c29c8c21ec6007635e1b2591edf98b771c9572a085968f47452b33040f384 liblzma.so.5
libmd0 1.0.4-2 29456 03539fd30c509e27101d13a56e52eda9062bdf1aefe337c07ab56def25a13eab libmd.so.0
libminizip1 1.1-8+deb12u1 20136 b2999b980cbb9e6dcaa2d5154c9d1f1b9d55f5a0ca8166699de7ab47afaf4a36 libminizip.so.1
libmount1 2.38.1-5+deb12u3 165732 f46e2d6b006951825adde9757790b6609d7c66c7700f9b68f3db913eaac323c3 libmount.so.1
libmp3lame0 3.100-6 364932 b1292c749172e7623547ecf684da57d3ec6ca22109f08b11bbb9e6be6e6beb95 libmp3lame.so.0
libmpg123-0 1.31.2-1+deb12u1 146980 a10ad0d59995b859797a5f20d2833672051d0b2c7dab4c71f2e79258b2e3f631 libmpg123.so.0
libnettle8 3.8.1-2 287764 45922e6e289ffd92f0f92d2bb9159e84236ff202d552a461bf10e5335b3f0261 libnettle.so.8
libnspr4 2:4.35-1 113108 6cca09767e94e4b5d2888ef31ad797bd3e7cec27fbbe98b49b10d4884746ce77 libnspr4.so,libplc4.so,libplds4.so
libnss3 2:3.87.1-1+deb12u4 1330556 666bce4768414a6a79d2dacb1549f922cedb1facd373790a477e12739878284e libnss3.so,libnssutil3.so,libsmime3.so
libogg0 1.3.5-3 23412 f67acb0477aed0354f411172e37af338f3ac6bd4f3766134a2cf5539884b5a28 libogg.so.0
libopenh264-7 2.3.1+dfsg-3+deb12u2 393072 d453c4d81b7b3ff14663da75471250a4894543ae5ab5e902e225aca56aec56e8 libopenh264.so.7
libopenjp2-7 2.5.0-2+deb12u3 189312 a127e2f1741d66bdddb6393a718e3cbec327d53f88c89b859b1f8d73f64cf635 libopenjp2.so.7
libopus0 1.3.1-3 195192 c172e212f9039e741916aa8e12f3670d1e049dc0c16685325641288c2d83faa7 libopus.so.0
libp11-kit0 0.24.1-2 345080 251330faddbf013f060fcdb41f4b0c037c8a6e89ba7c09b04bfcc4e3f0807b22 libp11-kit.so.0
libpango-1.0-0 1.50.12+ds-1 211788 851720de07441ae6bb6a7f51fc0f2edb4db7aa6f25b5bf1bf7b72dcab8947b7f libpango-1.0.so.0
libpcre2-8-0 10.42-1+deb12u2 261628 d2f7edfcc7689b9e0761c2742cc824ac86a20768bc5e8057818dc6875291fe76 libpcre2-8.so.0
libpixman-1-0 0.42.2-1 545588 9ed75ef81b6b1eba9e1357f8b0ce01d31112b0e07b2b685bee2cf627a8932892 libpixman-1.so.0
libpng16-16 1.6.39-2+deb12u6 277048 940b91d40d51c825de7f7aa133aecff1ffa25a91f12cb6aa6926c9ad55cd640c libpng16.so.16
libpulse0 16.1+dfsg1-2+b1 273952 7b2c5403cb726312219aad678becc6d6adcee1d8694fdffce0b6ec15ae010831 libpulse.so.0,libpulsecommon-16.1.so
libselinux1 3.4-1+b6 73720 2b07f5287b9105f40158b56e4d70cc1652dac56a408f3507b4ab3d061eed425f libselinux.so.1
libsndfile1 1.2.0-1+deb12u1 196540 02dc3f08fe8476e82e005f412e3b7289ff641180f33a9be8073f4bde61c85e8e libsndfile.so.1
libsqlite3-0 3.40.1-2+deb12u2 838808 a8d78b40e9b4e422224aeebfe0e4dfc243f6acf3532490b0c05480d4283d41e2 libsqlite3.so.0
libssl3 3.0.22-1~deb12u2 2039888 cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd libcrypto.so.3
libstdc++6 12.2.0-14+deb12u1 612604 5cd3171216d4ab0fc911cfe9c35509bf2dd8f47761c43b7f6a4296701551a24d libstdc++.so.6
libsystemd0 252.39-1~deb12u2 332372 013c07514a9e4933b2d5c098018695a6aa42d085dbc483ce2c094a954c8a1b0a libsystemd.so.0
libtasn1-6 4.19.0-2+deb12u1 48596 2c27c613b69be248d09432839ea3d3382f6ee27fabaa65987aa2d884cd00afda libtasn1.so.6
libthai0 0.1.29-1 57468 37cd66bef851ea0e4af807797ba3ad14d43226f7c4954c1d0a19478e11815bae libthai.so.0
libudev1 252.39-1~deb12u2 108880 6f7e08f11c4809d2e5998c775f7b423ab5ec2ce0309494b4a2615037052245e2 libudev.so.1
libunistring2 1.0-2 436708 d466bbfe011d764d793c1d9d777cad9c7cf65b938e11598f27408171ad95a951 libunistring.so.2
libvorbis0a 1.3.7-1 93028 01c14f9d1109650077a4c5c337c285476a6932d4d448f5a190c2b845724dbf21 libvorbis.so.0
libvorbisenc2 1.3.7-1 80568 75dd4d6f904c7db82f5112e60d8efea9e81dfedf94e970c5da7af2b3d81643c0 libvorbisenc.so.2
libwayland-server0 1.21.0-1 35876 df0396221d7b794496a687ec61fae82b6465648bc0ab6501ba0a5ed7f56eb8d6 libwayland-server.so.0
libx11-6 2:1.8.4-2+deb12u2 759544 d88c973e79fd9b65838d77624142952757e47a6eb1a58602acf0911cf35989f4 libX11.so.6
libx11-xcb1 2:1.8.4-2+deb12u2 192356 f5da45e1d881a793250a96613f28c471a248877f1a0f18a5c90e2a620a76c898 libX11-xcb.so.1
libxau6 1:1.0.9-1 19720 679db1c4579ec7c61079adeaae8528adeb2e4bf5465baa6c56233b995d714750 libXau.so.6
libxcb-render0 1.15-1 115012 29c32cc76be9393f409378be79a0f534b9f07dea06ae52fa80a7f27e298de239 libxcb-render.so.0
libxcb-shm0 1.15-1 105472 c1afcef29dc78b95c475159b181b28b1dedaf1d5aa06efd2fa6d90c73bfbe0e5 libxcb-shm.so.0
libxcb1 1.15-1 144052 fdc61332a3892168f3cc9cfa1fe9cf11a91dc3e0acacbc47cbc50ebaa234cc71 libxcb.so.1
libxcomposite1 1:0.4.5-1 16608 4c26ebf519d2ebc22fc1416dee45e12c4c4ef68aa9b2ed890356830df42b652a libXcomposite.so.1
libxdamage1 1:1.1.6-1 15144 fcdf7e4c29b307ba8711c864e1e646d76315a8f55121198143653e56592fa8a7 libXdamage.so.1
libxdmcp6 1:1.1.2-3 26344 ecb8536f5fb34543b55bb9dc5f5b14c9dbb4150a7bddb3f2287b7cab6e9d25ef libXdmcp.so.6
libxext6 2:1.3.4-1+b1 52932 504b7be9d7df4f6f4519e8dd4d6f9d03a9fb911a78530fa23a692fba3058cba6 libXext.so.6
libxfixes3 1:6.0.0-2 22684 1cd616396ff2ecae77e6e8b5b7695d414f0146de2d147837a2a02165f99e1a2c libXfixes.so.3
libxi6 2:1.8-1+b1 84208 6c2fb5f241b311788990122c6e693915867cd8ed9d6da2e3524aec7ed3cdb4c0 libXi.so.6
libxkbcommon0 1.5.0-1 106108 e3fe045b9a33a101de1c5a912a4a10928db055c3f68930f47eccbb44d7c7d54e libxkbcommon.so.0
libxnvctrl0 525.85.05-3~deb12u1 13460 6fc26e4b6069f4648692e0c225f580161e3b0c04e4bac1c616c8a418a9a9817d libXNVCtrl.so.0
libxrandr2 2:1.5.2-2+b1 39240 e2e10b672085ddf1d294cd689ed21bde5899325fd13626c2614b7d7b2d49a808 libXrandr.so.2
libxrender1 1:0.9.10-1.1 33228 b2a6d160578f359220101947c8d67059b44704a251e688de1d0b744fefedfd1a libXrender.so.1
libzstd1 1.5.4+dfsg2-5+deb12u1 290236 67dc1ee693e5c22b1a2be2bb70d8244b040836ce3f5dd79e006f7806bc3d9f1c libzstd.so.1
zlib1g 1:1.2.13.dfsg-1 86684 d7dd1d1411fedf27f5e27650a6eff20ef294077b568f4c8c5e51466dc7c08ce4 libz.so.1
"""
