-- sqlgpt: GPT in SQL, exact and cached. tiny (0.0M parameters) continues the prompt below by up to
-- 5 tokens, greedily, all in spark: the tokenizer, the forward passes with a KV cache, each next
-- token, and the text, which it prints: the text of
--     sqlgpt generate PROMPT -n 5 --temperature 0.0 --model <model-dir>
-- Run it with
--     spark-sql --conf spark.sql.warehouse.dir=DATABASE/warehouse --conf 'spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName=DATABASE/metastore_db;create=true' --conf 'spark.driver.extraJavaOptions=-Dderby.system.home=DATABASE -Dlog4j2.configurationFile=DATABASE/log4j2.properties' --conf spark.driver.memory=4g --conf spark.sql.codegen.cache.maxEntries=2000 --conf spark.sql.shuffle.partitions=1 --conf spark.sql.codegen.wholeStage=false -S -f script.sql
-- where DATABASE is the folder of sqlgpt's local Spark, its warehouse and metastore (spark/ in
-- sqlgpt's cache folder: ~/.cache/sqlgpt/spark on Linux; no other Spark may use it meanwhile),
-- which holds the model (schema m_<schema>), installed there once with
--     sqlgpt next x --model <model-dir> --engine spark
-- Token ids and text are exactly sqlgpt's, except:
-- * A NUL character in the generated text is printed as U+FFFD: no database's text holds NUL.

-- Spark 4.2.0 or later: dot products are its vector_inner_product, as sqlgpt computes on that Spark.

-- ===== the model must be installed =====
CACHE TABLE model_check AS SELECT CASE WHEN (SELECT count(*) FROM sqlgpt_models WHERE schema_name = 'm_<schema>' AND format_version = 1) = 1 THEN 1 ELSE raise_error('model m_<schema> is not installed in this database (in this layout): see the header of this script') END AS ok;
UNCACHE TABLE model_check;

-- ===== the script's own tables' place =====
-- a database of the script's own for its tables, dropped at the end (or here, if a run stopped early)
DROP DATABASE IF EXISTS sqlgpt_script CASCADE;
CREATE DATABASE sqlgpt_script;
USE sqlgpt_script;

-- ===== the tokenizer's tables =====
-- the vocabulary: every token's bytes (hex) and merge rank (lower merges first)
CREATE TABLE vocab (id INTEGER, hex STRING NOT NULL, merge_rank INTEGER) USING parquet;
INSERT INTO vocab VALUES
(0, '21', NULL),
(1, '22', NULL),
(2, '23', NULL),
(3, '24', NULL),
(4, '25', NULL),
(5, '26', NULL),
(6, '27', NULL),
(7, '28', NULL),
(8, '29', NULL),
(9, '2a', NULL),
(10, '2b', NULL),
(11, '2c', NULL),
(12, '2d', NULL),
(13, '2e', NULL),
(14, '2f', NULL),
(15, '30', NULL),
(16, '31', NULL),
(17, '32', NULL),
(18, '33', NULL),
(19, '34', NULL),
(20, '35', NULL),
(21, '36', NULL),
(22, '37', NULL),
(23, '38', NULL),
(24, '39', NULL),
(25, '3a', NULL),
(26, '3b', NULL),
(27, '3c', NULL),
(28, '3d', NULL),
(29, '3e', NULL),
(30, '3f', NULL),
(31, '40', NULL),
(32, '41', NULL),
(33, '42', NULL),
(34, '43', NULL),
(35, '44', NULL),
(36, '45', NULL),
(37, '46', NULL),
(38, '47', NULL),
(39, '48', NULL),
(40, '49', NULL),
(41, '4a', NULL),
(42, '4b', NULL),
(43, '4c', NULL),
(44, '4d', NULL),
(45, '4e', NULL),
(46, '4f', NULL),
(47, '50', NULL),
(48, '51', NULL),
(49, '52', NULL),
(50, '53', NULL),
(51, '54', NULL),
(52, '55', NULL),
(53, '56', NULL),
(54, '57', NULL),
(55, '58', NULL),
(56, '59', NULL),
(57, '5a', NULL),
(58, '5b', NULL),
(59, '5c', NULL),
(60, '5d', NULL),
(61, '5e', NULL),
(62, '5f', NULL),
(63, '60', NULL),
(64, '61', NULL),
(65, '62', NULL),
(66, '63', NULL),
(67, '64', NULL),
(68, '65', NULL),
(69, '66', NULL),
(70, '67', NULL),
(71, '68', NULL),
(72, '69', NULL),
(73, '6a', NULL),
(74, '6b', NULL),
(75, '6c', NULL),
(76, '6d', NULL),
(77, '6e', NULL),
(78, '6f', NULL),
(79, '70', NULL),
(80, '71', NULL),
(81, '72', NULL),
(82, '73', NULL),
(83, '74', NULL),
(84, '75', NULL),
(85, '76', NULL),
(86, '77', NULL),
(87, '78', NULL),
(88, '79', NULL),
(89, '7a', NULL),
(90, '7b', NULL),
(91, '7c', NULL),
(92, '7d', NULL),
(93, '7e', NULL),
(94, 'a1', NULL),
(95, 'a2', NULL),
(96, 'a3', NULL),
(97, 'a4', NULL),
(98, 'a5', NULL),
(99, 'a6', NULL),
(100, 'a7', NULL),
(101, 'a8', NULL),
(102, 'a9', NULL),
(103, 'aa', NULL),
(104, 'ab', NULL),
(105, 'ac', NULL),
(106, 'ae', NULL),
(107, 'af', NULL),
(108, 'b0', NULL),
(109, 'b1', NULL),
(110, 'b2', NULL),
(111, 'b3', NULL),
(112, 'b4', NULL),
(113, 'b5', NULL),
(114, 'b6', NULL),
(115, 'b7', NULL),
(116, 'b8', NULL),
(117, 'b9', NULL),
(118, 'ba', NULL),
(119, 'bb', NULL),
(120, 'bc', NULL),
(121, 'bd', NULL),
(122, 'be', NULL),
(123, 'bf', NULL),
(124, 'c0', NULL),
(125, 'c1', NULL),
(126, 'c2', NULL),
(127, 'c3', NULL),
(128, 'c4', NULL),
(129, 'c5', NULL),
(130, 'c6', NULL),
(131, 'c7', NULL),
(132, 'c8', NULL),
(133, 'c9', NULL),
(134, 'ca', NULL),
(135, 'cb', NULL),
(136, 'cc', NULL),
(137, 'cd', NULL),
(138, 'ce', NULL),
(139, 'cf', NULL),
(140, 'd0', NULL),
(141, 'd1', NULL),
(142, 'd2', NULL),
(143, 'd3', NULL),
(144, 'd4', NULL),
(145, 'd5', NULL),
(146, 'd6', NULL),
(147, 'd7', NULL),
(148, 'd8', NULL),
(149, 'd9', NULL),
(150, 'da', NULL),
(151, 'db', NULL),
(152, 'dc', NULL),
(153, 'dd', NULL),
(154, 'de', NULL),
(155, 'df', NULL),
(156, 'e0', NULL),
(157, 'e1', NULL),
(158, 'e2', NULL),
(159, 'e3', NULL),
(160, 'e4', NULL),
(161, 'e5', NULL),
(162, 'e6', NULL),
(163, 'e7', NULL),
(164, 'e8', NULL),
(165, 'e9', NULL),
(166, 'ea', NULL),
(167, 'eb', NULL),
(168, 'ec', NULL),
(169, 'ed', NULL),
(170, 'ee', NULL),
(171, 'ef', NULL),
(172, 'f0', NULL),
(173, 'f1', NULL),
(174, 'f2', NULL),
(175, 'f3', NULL),
(176, 'f4', NULL),
(177, 'f5', NULL),
(178, 'f6', NULL),
(179, 'f7', NULL),
(180, 'f8', NULL),
(181, 'f9', NULL),
(182, 'fa', NULL),
(183, 'fb', NULL),
(184, 'fc', NULL),
(185, 'fd', NULL),
(186, 'fe', NULL),
(187, 'ff', NULL),
(188, '00', NULL),
(189, '01', NULL),
(190, '02', NULL),
(191, '03', NULL),
(192, '04', NULL),
(193, '05', NULL),
(194, '06', NULL),
(195, '07', NULL),
(196, '08', NULL),
(197, '09', NULL),
(198, '0a', NULL),
(199, '0b', NULL),
(200, '0c', NULL),
(201, '0d', NULL),
(202, '0e', NULL),
(203, '0f', NULL),
(204, '10', NULL),
(205, '11', NULL),
(206, '12', NULL),
(207, '13', NULL),
(208, '14', NULL),
(209, '15', NULL),
(210, '16', NULL),
(211, '17', NULL),
(212, '18', NULL),
(213, '19', NULL),
(214, '1a', NULL),
(215, '1b', NULL),
(216, '1c', NULL),
(217, '1d', NULL),
(218, '1e', NULL),
(219, '1f', NULL),
(220, '20', NULL),
(221, '7f', NULL),
(222, '80', NULL),
(223, '81', NULL),
(224, '82', NULL),
(225, '83', NULL),
(226, '84', NULL),
(227, '85', NULL),
(228, '86', NULL),
(229, '87', NULL),
(230, '88', NULL),
(231, '89', NULL),
(232, '8a', NULL),
(233, '8b', NULL),
(234, '8c', NULL),
(235, '8d', NULL),
(236, '8e', NULL),
(237, '8f', NULL),
(238, '90', NULL),
(239, '91', NULL),
(240, '92', NULL),
(241, '93', NULL),
(242, '94', NULL),
(243, '95', NULL),
(244, '96', NULL),
(245, '97', NULL),
(246, '98', NULL),
(247, '99', NULL),
(248, '9a', NULL),
(249, '9b', NULL),
(250, '9c', NULL),
(251, '9d', NULL),
(252, '9e', NULL),
(253, '9f', NULL),
(254, 'a0', NULL),
(255, 'ad', NULL),
(256, '2074', 0),
(257, '6865', 1),
(258, '20746865', 2),
(259, '696e', 3),
(260, '2061', 4),
(261, '6572', 5),
(262, '6f6e', 6),
(263, '2073', 7),
(264, '3c7c656e646f66746578747c3e', NULL);

-- ===== the prompt's token ids, encoded in SQL =====
-- the prompt: the script's one piece of user text
CREATE TABLE prompt USING parquet AS SELECT CAST('the cat' AS STRING) AS txt;
-- the numbers 1, 2, ...: as many as the longest hex string (a token or the prompt) has characters
CREATE TABLE nums USING parquet AS SELECT explode(sequence(1, top.k)) AS i FROM (SELECT max(k) AS k FROM (SELECT max(length(hex)) AS k FROM vocab UNION ALL SELECT length(lower(hex(txt))) FROM prompt) a) top;
-- the pre-tokens: GPT-2's pattern splits the prompt into words, numbers, symbols and spaces
CREATE TABLE pieces (piece INTEGER, hex STRING) USING parquet;
-- Spark's regex is Java's: GPT-2's pattern as it is, lookahead and first-match alternatives included.
INSERT INTO pieces
SELECT CAST(u.i + 1 AS INT), lower(hex(u.piece)) FROM prompt p LATERAL VIEW posexplode(regexp_extract_all(p.txt, '''s|''t|''re|''ve|''m|''ll|''d| ?[\\x{41}-\\x{5a}\\x{61}-\\x{7a}\\x{aa}\\x{b5}\\x{ba}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{2c1}\\x{2c6}-\\x{2d1}\\x{2e0}-\\x{2e4}\\x{2ec}\\x{2ee}\\x{370}-\\x{374}\\x{376}-\\x{377}\\x{37a}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{558}-\\x{559}\\x{560}-\\x{588}\\x{58b}-\\x{58c}\\x{5d0}-\\x{5ea}\\x{5ef}-\\x{5f2}\\x{620}-\\x{64a}\\x{66e}-\\x{66f}\\x{671}-\\x{6d3}\\x{6d5}\\x{6e5}-\\x{6e6}\\x{6ee}-\\x{6ef}\\x{6fa}-\\x{6fc}\\x{6ff}\\x{710}\\x{712}-\\x{72f}\\x{74d}-\\x{7a5}\\x{7b1}\\x{7ca}-\\x{7ea}\\x{7f4}-\\x{7f5}\\x{7fa}\\x{800}-\\x{815}\\x{81a}\\x{824}\\x{828}\\x{840}-\\x{858}\\x{860}-\\x{86a}\\x{870}-\\x{887}\\x{889}-\\x{88f}\\x{8a0}-\\x{8c9}\\x{904}-\\x{939}\\x{93d}\\x{950}\\x{958}-\\x{961}\\x{971}-\\x{980}\\x{985}-\\x{98c}\\x{98f}-\\x{990}\\x{993}-\\x{9a8}\\x{9aa}-\\x{9b0}\\x{9b2}\\x{9b6}-\\x{9b9}\\x{9bd}\\x{9ce}\\x{9dc}-\\x{9dd}\\x{9df}-\\x{9e1}\\x{9f0}-\\x{9f1}\\x{9fc}\\x{a05}-\\x{a0a}\\x{a0f}-\\x{a10}\\x{a13}-\\x{a28}\\x{a2a}-\\x{a30}\\x{a32}-\\x{a33}\\x{a35}-\\x{a36}\\x{a38}-\\x{a39}\\x{a59}-\\x{a5c}\\x{a5e}\\x{a72}-\\x{a74}\\x{a85}-\\x{a8d}\\x{a8f}-\\x{a91}\\x{a93}-\\x{aa8}\\x{aaa}-\\x{ab0}\\x{ab2}-\\x{ab3}\\x{ab5}-\\x{ab9}\\x{abd}\\x{ad0}\\x{ae0}-\\x{ae1}\\x{af9}\\x{b05}-\\x{b0c}\\x{b0f}-\\x{b10}\\x{b13}-\\x{b28}\\x{b2a}-\\x{b30}\\x{b32}-\\x{b33}\\x{b35}-\\x{b39}\\x{b3d}\\x{b5c}-\\x{b5d}\\x{b5f}-\\x{b61}\\x{b71}\\x{b83}\\x{b85}-\\x{b8a}\\x{b8e}-\\x{b90}\\x{b92}-\\x{b95}\\x{b99}-\\x{b9a}\\x{b9c}\\x{b9e}-\\x{b9f}\\x{ba3}-\\x{ba4}\\x{ba8}-\\x{baa}\\x{bae}-\\x{bb9}\\x{bd0}\\x{c05}-\\x{c0c}\\x{c0e}-\\x{c10}\\x{c12}-\\x{c28}\\x{c2a}-\\x{c39}\\x{c3d}\\x{c58}-\\x{c5a}\\x{c5c}-\\x{c5d}\\x{c60}-\\x{c61}\\x{c80}\\x{c85}-\\x{c8c}\\x{c8e}-\\x{c90}\\x{c92}-\\x{ca8}\\x{caa}-\\x{cb3}\\x{cb5}-\\x{cb9}\\x{cbd}\\x{cdc}-\\x{cde}\\x{ce0}-\\x{ce1}\\x{cf1}-\\x{cf2}\\x{d04}-\\x{d0c}\\x{d0e}-\\x{d10}\\x{d12}-\\x{d3a}\\x{d3d}\\x{d4e}\\x{d54}-\\x{d56}\\x{d5f}-\\x{d61}\\x{d7a}-\\x{d7f}\\x{d85}-\\x{d96}\\x{d9a}-\\x{db1}\\x{db3}-\\x{dbb}\\x{dbd}\\x{dc0}-\\x{dc6}\\x{e01}-\\x{e30}\\x{e32}-\\x{e33}\\x{e40}-\\x{e46}\\x{e81}-\\x{e82}\\x{e84}\\x{e86}-\\x{e8a}\\x{e8c}-\\x{ea3}\\x{ea5}\\x{ea7}-\\x{eb0}\\x{eb2}-\\x{eb3}\\x{ebd}\\x{ec0}-\\x{ec4}\\x{ec6}\\x{edc}-\\x{edf}\\x{f00}\\x{f40}-\\x{f47}\\x{f49}-\\x{f6c}\\x{f88}-\\x{f8c}\\x{1000}-\\x{102a}\\x{103f}\\x{1050}-\\x{1055}\\x{105a}-\\x{105d}\\x{1061}\\x{1065}-\\x{1066}\\x{106e}-\\x{1070}\\x{1075}-\\x{1081}\\x{108e}\\x{10a0}-\\x{10c5}\\x{10c7}\\x{10cd}\\x{10d0}-\\x{10fa}\\x{10fc}-\\x{1248}\\x{124a}-\\x{124d}\\x{1250}-\\x{1256}\\x{1258}\\x{125a}-\\x{125d}\\x{1260}-\\x{1288}\\x{128a}-\\x{128d}\\x{1290}-\\x{12b0}\\x{12b2}-\\x{12b5}\\x{12b8}-\\x{12be}\\x{12c0}\\x{12c2}-\\x{12c5}\\x{12c8}-\\x{12d6}\\x{12d8}-\\x{1310}\\x{1312}-\\x{1315}\\x{1318}-\\x{135a}\\x{1380}-\\x{138f}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1401}-\\x{166c}\\x{166f}-\\x{167f}\\x{1681}-\\x{169a}\\x{16a0}-\\x{16ea}\\x{16f1}-\\x{16f8}\\x{1700}-\\x{1711}\\x{171f}-\\x{1731}\\x{1740}-\\x{1751}\\x{1760}-\\x{176c}\\x{176e}-\\x{1770}\\x{1780}-\\x{17b3}\\x{17d7}\\x{17dc}\\x{1820}-\\x{1878}\\x{1880}-\\x{1884}\\x{1887}-\\x{18a8}\\x{18aa}\\x{18b0}-\\x{18f5}\\x{1900}-\\x{191e}\\x{1950}-\\x{196d}\\x{1970}-\\x{1974}\\x{1980}-\\x{19ab}\\x{19b0}-\\x{19c9}\\x{1a00}-\\x{1a16}\\x{1a20}-\\x{1a54}\\x{1aa7}\\x{1b05}-\\x{1b33}\\x{1b45}-\\x{1b4c}\\x{1b83}-\\x{1ba0}\\x{1bae}-\\x{1baf}\\x{1bba}-\\x{1be5}\\x{1c00}-\\x{1c23}\\x{1c4d}-\\x{1c4f}\\x{1c5a}-\\x{1c7d}\\x{1c80}-\\x{1c8a}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1ce9}-\\x{1cec}\\x{1cee}-\\x{1cf3}\\x{1cf5}-\\x{1cf6}\\x{1cfa}\\x{1d00}-\\x{1dbf}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2071}\\x{207f}\\x{208f}-\\x{209f}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}-\\x{2184}\\x{2c00}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}-\\x{2cf3}\\x{2d00}-\\x{2d25}\\x{2d27}\\x{2d2d}\\x{2d30}-\\x{2d67}\\x{2d6f}\\x{2d80}-\\x{2d96}\\x{2da0}-\\x{2da6}\\x{2da8}-\\x{2dae}\\x{2db0}-\\x{2db6}\\x{2db8}-\\x{2dbe}\\x{2dc0}-\\x{2dc6}\\x{2dc8}-\\x{2dce}\\x{2dd0}-\\x{2dd6}\\x{2dd8}-\\x{2dde}\\x{2e2f}\\x{3005}-\\x{3006}\\x{3031}-\\x{3035}\\x{303b}-\\x{303c}\\x{3041}-\\x{3096}\\x{309d}-\\x{309f}\\x{30a1}-\\x{30fa}\\x{30fc}-\\x{30ff}\\x{3105}-\\x{312f}\\x{3131}-\\x{318e}\\x{31a0}-\\x{31bf}\\x{31f0}-\\x{31ff}\\x{3400}-\\x{4dbf}\\x{4e00}-\\x{a48c}\\x{a4d0}-\\x{a4fd}\\x{a500}-\\x{a60c}\\x{a610}-\\x{a61f}\\x{a62a}-\\x{a62b}\\x{a640}-\\x{a66e}\\x{a67f}-\\x{a69d}\\x{a6a0}-\\x{a6e5}\\x{a717}-\\x{a71f}\\x{a722}-\\x{a788}\\x{a78b}-\\x{a7dd}\\x{a7e2}\\x{a7f1}-\\x{a801}\\x{a803}-\\x{a805}\\x{a807}-\\x{a80a}\\x{a80c}-\\x{a822}\\x{a840}-\\x{a873}\\x{a882}-\\x{a8b3}\\x{a8f2}-\\x{a8f7}\\x{a8fb}\\x{a8fd}-\\x{a8fe}\\x{a90a}-\\x{a925}\\x{a930}-\\x{a946}\\x{a960}-\\x{a97c}\\x{a984}-\\x{a9b2}\\x{a9cf}\\x{a9e0}-\\x{a9e4}\\x{a9e6}-\\x{a9ef}\\x{a9fa}-\\x{a9fe}\\x{aa00}-\\x{aa28}\\x{aa40}-\\x{aa42}\\x{aa44}-\\x{aa4b}\\x{aa60}-\\x{aa76}\\x{aa7a}\\x{aa7e}-\\x{aaaf}\\x{aab1}\\x{aab5}-\\x{aab6}\\x{aab9}-\\x{aabd}\\x{aac0}\\x{aac2}\\x{aadb}-\\x{aadd}\\x{aae0}-\\x{aaea}\\x{aaf2}-\\x{aaf4}\\x{ab01}-\\x{ab06}\\x{ab09}-\\x{ab0e}\\x{ab11}-\\x{ab16}\\x{ab20}-\\x{ab26}\\x{ab28}-\\x{ab2e}\\x{ab30}-\\x{ab5a}\\x{ab5c}-\\x{ab69}\\x{ab6c}-\\x{ab6d}\\x{ab70}-\\x{abe2}\\x{ac00}-\\x{d7a3}\\x{d7b0}-\\x{d7c6}\\x{d7cb}-\\x{d7fb}\\x{f900}-\\x{fa6d}\\x{fa70}-\\x{fad9}\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{fb1d}\\x{fb1f}-\\x{fb28}\\x{fb2a}-\\x{fb36}\\x{fb38}-\\x{fb3c}\\x{fb3e}\\x{fb40}-\\x{fb41}\\x{fb43}-\\x{fb44}\\x{fb46}-\\x{fbb1}\\x{fbd3}-\\x{fd3d}\\x{fd50}-\\x{fd8f}\\x{fd92}-\\x{fdc7}\\x{fdf0}-\\x{fdfb}\\x{fe70}-\\x{fe74}\\x{fe76}-\\x{fefc}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{ff66}-\\x{ffbe}\\x{ffc2}-\\x{ffc7}\\x{ffca}-\\x{ffcf}\\x{ffd2}-\\x{ffd7}\\x{ffda}-\\x{ffdc}\\x{10000}-\\x{1000b}\\x{1000d}-\\x{10026}\\x{10028}-\\x{1003a}\\x{1003c}-\\x{1003d}\\x{1003f}-\\x{1004d}\\x{10050}-\\x{1005d}\\x{10080}-\\x{100fa}\\x{10280}-\\x{1029c}\\x{102a0}-\\x{102d0}\\x{10300}-\\x{1031f}\\x{1032d}-\\x{10340}\\x{10342}-\\x{10349}\\x{10350}-\\x{10375}\\x{10380}-\\x{1039d}\\x{103a0}-\\x{103c3}\\x{103c8}-\\x{103cf}\\x{10400}-\\x{1049d}\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10500}-\\x{10527}\\x{10530}-\\x{10563}\\x{10570}-\\x{1057a}\\x{1057c}-\\x{1058a}\\x{1058c}-\\x{10592}\\x{10594}-\\x{10595}\\x{10597}-\\x{105a1}\\x{105a3}-\\x{105b1}\\x{105b3}-\\x{105b9}\\x{105bb}-\\x{105bc}\\x{105c0}-\\x{105f3}\\x{10600}-\\x{10736}\\x{10740}-\\x{10755}\\x{10760}-\\x{10767}\\x{10780}-\\x{10785}\\x{10787}-\\x{107b0}\\x{107b2}-\\x{107bf}\\x{10800}-\\x{10805}\\x{10808}\\x{1080a}-\\x{10835}\\x{10837}-\\x{10838}\\x{1083c}\\x{1083f}-\\x{10855}\\x{10860}-\\x{10876}\\x{10880}-\\x{1089e}\\x{108e0}-\\x{108f2}\\x{108f4}-\\x{108f5}\\x{10900}-\\x{10915}\\x{10920}-\\x{10939}\\x{10940}-\\x{10959}\\x{10980}-\\x{109b7}\\x{109be}-\\x{109bf}\\x{10a00}\\x{10a10}-\\x{10a13}\\x{10a15}-\\x{10a17}\\x{10a19}-\\x{10a35}\\x{10a60}-\\x{10a7c}\\x{10a80}-\\x{10a9c}\\x{10ac0}-\\x{10ac7}\\x{10ac9}-\\x{10ae4}\\x{10b00}-\\x{10b35}\\x{10b40}-\\x{10b55}\\x{10b60}-\\x{10b72}\\x{10b80}-\\x{10b91}\\x{10c00}-\\x{10c48}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{10d00}-\\x{10d23}\\x{10d4a}-\\x{10d65}\\x{10d6f}-\\x{10d85}\\x{10e80}-\\x{10ea9}\\x{10eb0}-\\x{10eb1}\\x{10ec2}-\\x{10ec7}\\x{10ed9}-\\x{10eee}\\x{10f00}-\\x{10f1c}\\x{10f27}\\x{10f30}-\\x{10f45}\\x{10f70}-\\x{10f81}\\x{10fb0}-\\x{10fc4}\\x{10fe0}-\\x{10ff6}\\x{11003}-\\x{11037}\\x{11071}-\\x{11072}\\x{11075}\\x{11083}-\\x{110af}\\x{110d0}-\\x{110e8}\\x{11103}-\\x{11126}\\x{11144}\\x{11147}\\x{11150}-\\x{11172}\\x{11176}\\x{11183}-\\x{111b2}\\x{111c1}-\\x{111c4}\\x{111da}\\x{111dc}\\x{11200}-\\x{11211}\\x{11213}-\\x{1122b}\\x{1123f}-\\x{11240}\\x{11280}-\\x{11286}\\x{11288}\\x{1128a}-\\x{1128d}\\x{1128f}-\\x{1129d}\\x{1129f}-\\x{112a8}\\x{112b0}-\\x{112de}\\x{11305}-\\x{1130c}\\x{1130f}-\\x{11310}\\x{11313}-\\x{11328}\\x{1132a}-\\x{11330}\\x{11332}-\\x{11333}\\x{11335}-\\x{11339}\\x{1133d}\\x{11350}\\x{1135d}-\\x{11361}\\x{11380}-\\x{11389}\\x{1138b}\\x{1138e}\\x{11390}-\\x{113b5}\\x{113b7}\\x{113d1}\\x{113d3}\\x{11400}-\\x{11434}\\x{11447}-\\x{1144a}\\x{1145f}-\\x{11461}\\x{11480}-\\x{114af}\\x{114c4}-\\x{114c5}\\x{114c7}\\x{11580}-\\x{115ae}\\x{115d8}-\\x{115db}\\x{11600}-\\x{1162f}\\x{11644}\\x{11680}-\\x{116aa}\\x{116b8}\\x{11700}-\\x{1171a}\\x{11740}-\\x{11746}\\x{11800}-\\x{1182b}\\x{118a0}-\\x{118df}\\x{118ff}-\\x{11906}\\x{11909}\\x{1190c}-\\x{11913}\\x{11915}-\\x{11916}\\x{11918}-\\x{1192f}\\x{1193f}\\x{11941}\\x{119a0}-\\x{119a7}\\x{119aa}-\\x{119d0}\\x{119e1}\\x{119e3}\\x{11a00}\\x{11a0b}-\\x{11a32}\\x{11a3a}\\x{11a50}\\x{11a5c}-\\x{11a89}\\x{11a9d}\\x{11ab0}-\\x{11af8}\\x{11b0a}\\x{11bc0}-\\x{11be0}\\x{11c00}-\\x{11c08}\\x{11c0a}-\\x{11c2e}\\x{11c40}\\x{11c72}-\\x{11c8f}\\x{11d00}-\\x{11d06}\\x{11d08}-\\x{11d09}\\x{11d0b}-\\x{11d30}\\x{11d46}\\x{11d60}-\\x{11d65}\\x{11d67}-\\x{11d68}\\x{11d6a}-\\x{11d89}\\x{11d98}\\x{11db0}-\\x{11ddb}\\x{11df1}\\x{11ee0}-\\x{11ef2}\\x{11f02}\\x{11f04}-\\x{11f10}\\x{11f12}-\\x{11f33}\\x{11fb0}\\x{12000}-\\x{12399}\\x{12480}-\\x{12543}\\x{12f90}-\\x{12ff0}\\x{13000}-\\x{1342f}\\x{13441}-\\x{13446}\\x{13460}-\\x{143fa}\\x{14400}-\\x{14646}\\x{16100}-\\x{1611d}\\x{16800}-\\x{16a38}\\x{16a40}-\\x{16a5e}\\x{16a70}-\\x{16abe}\\x{16ad0}-\\x{16aed}\\x{16b00}-\\x{16b2f}\\x{16b40}-\\x{16b43}\\x{16b63}-\\x{16b77}\\x{16b7d}-\\x{16b8f}\\x{16d40}-\\x{16d6c}\\x{16e40}-\\x{16e7f}\\x{16ea0}-\\x{16eb8}\\x{16ebb}-\\x{16ed3}\\x{16f00}-\\x{16f4a}\\x{16f50}\\x{16f93}-\\x{16f9f}\\x{16fe0}-\\x{16fe1}\\x{16fe3}\\x{16ff2}-\\x{16ff3}\\x{17000}-\\x{18cda}\\x{18cff}-\\x{18d20}\\x{18d80}-\\x{18df2}\\x{18e00}-\\x{19191}\\x{191a0}-\\x{191d2}\\x{1aff0}-\\x{1aff3}\\x{1aff5}-\\x{1affb}\\x{1affd}-\\x{1affe}\\x{1b000}-\\x{1b128}\\x{1b132}\\x{1b150}-\\x{1b152}\\x{1b155}\\x{1b164}-\\x{1b168}\\x{1b170}-\\x{1b2fb}\\x{1bc00}-\\x{1bc6a}\\x{1bc70}-\\x{1bc7c}\\x{1bc80}-\\x{1bc88}\\x{1bc90}-\\x{1bc99}\\x{1d400}-\\x{1d454}\\x{1d456}-\\x{1d49c}\\x{1d49e}-\\x{1d49f}\\x{1d4a2}\\x{1d4a5}-\\x{1d4a6}\\x{1d4a9}-\\x{1d4ac}\\x{1d4ae}-\\x{1d4b9}\\x{1d4bb}\\x{1d4bd}-\\x{1d4c3}\\x{1d4c5}-\\x{1d505}\\x{1d507}-\\x{1d50a}\\x{1d50d}-\\x{1d514}\\x{1d516}-\\x{1d51c}\\x{1d51e}-\\x{1d539}\\x{1d53b}-\\x{1d53e}\\x{1d540}-\\x{1d544}\\x{1d546}\\x{1d54a}-\\x{1d550}\\x{1d552}-\\x{1d6a6}\\x{1d6a8}-\\x{1d6c0}\\x{1d6c2}-\\x{1d6da}\\x{1d6dc}-\\x{1d6fa}\\x{1d6fc}-\\x{1d714}\\x{1d716}-\\x{1d734}\\x{1d736}-\\x{1d74e}\\x{1d750}-\\x{1d76e}\\x{1d770}-\\x{1d788}\\x{1d78a}-\\x{1d7a8}\\x{1d7aa}-\\x{1d7c2}\\x{1d7c4}-\\x{1d7cb}\\x{1df00}-\\x{1df81}\\x{1df90}-\\x{1df96}\\x{1dfcd}-\\x{1dfff}\\x{1e030}-\\x{1e06d}\\x{1e100}-\\x{1e12c}\\x{1e137}-\\x{1e13d}\\x{1e14e}\\x{1e290}-\\x{1e2ad}\\x{1e2c0}-\\x{1e2eb}\\x{1e4d0}-\\x{1e4eb}\\x{1e5d0}-\\x{1e5ed}\\x{1e5f0}\\x{1e6c0}-\\x{1e6de}\\x{1e6e0}-\\x{1e6e2}\\x{1e6e4}-\\x{1e6e5}\\x{1e6e7}-\\x{1e6ed}\\x{1e6f0}-\\x{1e6f4}\\x{1e6fe}-\\x{1e6ff}\\x{1e7e0}-\\x{1e7e6}\\x{1e7e8}-\\x{1e7eb}\\x{1e7ed}-\\x{1e7ee}\\x{1e7f0}-\\x{1e7fe}\\x{1e800}-\\x{1e8c4}\\x{1e900}-\\x{1e943}\\x{1e94b}\\x{1ee00}-\\x{1ee03}\\x{1ee05}-\\x{1ee1f}\\x{1ee21}-\\x{1ee22}\\x{1ee24}\\x{1ee27}\\x{1ee29}-\\x{1ee32}\\x{1ee34}-\\x{1ee37}\\x{1ee39}\\x{1ee3b}\\x{1ee42}\\x{1ee47}\\x{1ee49}\\x{1ee4b}\\x{1ee4d}-\\x{1ee4f}\\x{1ee51}-\\x{1ee52}\\x{1ee54}\\x{1ee57}\\x{1ee59}\\x{1ee5b}\\x{1ee5d}\\x{1ee5f}\\x{1ee61}-\\x{1ee62}\\x{1ee64}\\x{1ee67}-\\x{1ee6a}\\x{1ee6c}-\\x{1ee72}\\x{1ee74}-\\x{1ee77}\\x{1ee79}-\\x{1ee7c}\\x{1ee7e}\\x{1ee80}-\\x{1ee89}\\x{1ee8b}-\\x{1ee9b}\\x{1eea1}-\\x{1eea3}\\x{1eea5}-\\x{1eea9}\\x{1eeab}-\\x{1eebb}\\x{20000}-\\x{2a6df}\\x{2a700}-\\x{2b81e}\\x{2b820}-\\x{2cead}\\x{2ceb0}-\\x{2ebe0}\\x{2ebf0}-\\x{2ee5d}\\x{2f800}-\\x{2fa1d}\\x{30000}-\\x{3134a}\\x{31350}-\\x{33479}\\x{3d000}-\\x{3fc3f}]+| ?[\\x{30}-\\x{39}\\x{b2}-\\x{b3}\\x{b9}\\x{bc}-\\x{be}\\x{660}-\\x{669}\\x{6f0}-\\x{6f9}\\x{7c0}-\\x{7c9}\\x{966}-\\x{96f}\\x{9e6}-\\x{9ef}\\x{9f4}-\\x{9f9}\\x{a66}-\\x{a6f}\\x{ae6}-\\x{aef}\\x{b66}-\\x{b6f}\\x{b72}-\\x{b77}\\x{be6}-\\x{bf2}\\x{c66}-\\x{c6f}\\x{c78}-\\x{c7e}\\x{ce6}-\\x{cef}\\x{d58}-\\x{d5e}\\x{d66}-\\x{d78}\\x{de6}-\\x{def}\\x{e50}-\\x{e59}\\x{ed0}-\\x{ed9}\\x{f20}-\\x{f33}\\x{1040}-\\x{1049}\\x{1090}-\\x{1099}\\x{1369}-\\x{137c}\\x{16ee}-\\x{16f0}\\x{17e0}-\\x{17e9}\\x{17f0}-\\x{17f9}\\x{1810}-\\x{1819}\\x{1946}-\\x{194f}\\x{19d0}-\\x{19da}\\x{1a80}-\\x{1a89}\\x{1a90}-\\x{1a99}\\x{1b50}-\\x{1b59}\\x{1bb0}-\\x{1bb9}\\x{1c40}-\\x{1c49}\\x{1c50}-\\x{1c59}\\x{2070}\\x{2074}-\\x{2079}\\x{2080}-\\x{2089}\\x{2150}-\\x{2182}\\x{2185}-\\x{2189}\\x{2460}-\\x{249b}\\x{24ea}-\\x{24ff}\\x{2776}-\\x{2793}\\x{2cfd}\\x{3007}\\x{3021}-\\x{3029}\\x{3038}-\\x{303a}\\x{3192}-\\x{3195}\\x{3220}-\\x{3229}\\x{3248}-\\x{324f}\\x{3251}-\\x{325f}\\x{3280}-\\x{3289}\\x{32b1}-\\x{32bf}\\x{a620}-\\x{a629}\\x{a6e6}-\\x{a6ef}\\x{a830}-\\x{a835}\\x{a8d0}-\\x{a8d9}\\x{a900}-\\x{a909}\\x{a9d0}-\\x{a9d9}\\x{a9f0}-\\x{a9f9}\\x{aa50}-\\x{aa59}\\x{abf0}-\\x{abf9}\\x{ff10}-\\x{ff19}\\x{10107}-\\x{10133}\\x{10140}-\\x{10178}\\x{1018a}-\\x{1018b}\\x{102e1}-\\x{102fb}\\x{10320}-\\x{10323}\\x{10341}\\x{1034a}\\x{103d1}-\\x{103d5}\\x{104a0}-\\x{104a9}\\x{10858}-\\x{1085f}\\x{10879}-\\x{1087f}\\x{108a7}-\\x{108af}\\x{108fb}-\\x{108ff}\\x{10916}-\\x{1091b}\\x{109bc}-\\x{109bd}\\x{109c0}-\\x{109cf}\\x{109d2}-\\x{109ff}\\x{10a40}-\\x{10a48}\\x{10a7d}-\\x{10a7e}\\x{10a9d}-\\x{10a9f}\\x{10aeb}-\\x{10aef}\\x{10b58}-\\x{10b5f}\\x{10b78}-\\x{10b7f}\\x{10ba9}-\\x{10baf}\\x{10cfa}-\\x{10cff}\\x{10d30}-\\x{10d39}\\x{10d40}-\\x{10d49}\\x{10e60}-\\x{10e7e}\\x{10f1d}-\\x{10f26}\\x{10f51}-\\x{10f54}\\x{10fc5}-\\x{10fcb}\\x{11052}-\\x{1106f}\\x{110f0}-\\x{110f9}\\x{11136}-\\x{1113f}\\x{111d0}-\\x{111d9}\\x{111e1}-\\x{111f4}\\x{112f0}-\\x{112f9}\\x{11450}-\\x{11459}\\x{114d0}-\\x{114d9}\\x{11650}-\\x{11659}\\x{116c0}-\\x{116c9}\\x{116d0}-\\x{116e3}\\x{11730}-\\x{1173b}\\x{118e0}-\\x{118f2}\\x{11950}-\\x{11959}\\x{11bf0}-\\x{11bf9}\\x{11c50}-\\x{11c6c}\\x{11d50}-\\x{11d59}\\x{11da0}-\\x{11da9}\\x{11de0}-\\x{11de9}\\x{11f50}-\\x{11f59}\\x{11fc0}-\\x{11fd4}\\x{12400}-\\x{1246f}\\x{12475}-\\x{1247f}\\x{12550}-\\x{12686}\\x{16130}-\\x{16139}\\x{16a60}-\\x{16a69}\\x{16ac0}-\\x{16ac9}\\x{16b50}-\\x{16b59}\\x{16b5b}-\\x{16b61}\\x{16d70}-\\x{16d79}\\x{16e80}-\\x{16e96}\\x{16ff4}-\\x{16ff6}\\x{1ccf0}-\\x{1ccf9}\\x{1d2c0}-\\x{1d2d3}\\x{1d2e0}-\\x{1d2f3}\\x{1d360}-\\x{1d378}\\x{1d7ce}-\\x{1d7ff}\\x{1e140}-\\x{1e149}\\x{1e2f0}-\\x{1e2f9}\\x{1e4f0}-\\x{1e4f9}\\x{1e5f1}-\\x{1e5fa}\\x{1e8c7}-\\x{1e8cf}\\x{1e950}-\\x{1e959}\\x{1ec71}-\\x{1ecab}\\x{1ecad}-\\x{1ecaf}\\x{1ecb1}-\\x{1ecb4}\\x{1ed01}-\\x{1ed2d}\\x{1ed2f}-\\x{1ed3d}\\x{1f100}-\\x{1f10c}\\x{1fbf0}-\\x{1fbf9}]+| ?[^\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}-\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{41}-\\x{5a}\\x{61}-\\x{7a}\\x{aa}\\x{b5}\\x{ba}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{2c1}\\x{2c6}-\\x{2d1}\\x{2e0}-\\x{2e4}\\x{2ec}\\x{2ee}\\x{370}-\\x{374}\\x{376}-\\x{377}\\x{37a}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{558}-\\x{559}\\x{560}-\\x{588}\\x{58b}-\\x{58c}\\x{5d0}-\\x{5ea}\\x{5ef}-\\x{5f2}\\x{620}-\\x{64a}\\x{66e}-\\x{66f}\\x{671}-\\x{6d3}\\x{6d5}\\x{6e5}-\\x{6e6}\\x{6ee}-\\x{6ef}\\x{6fa}-\\x{6fc}\\x{6ff}\\x{710}\\x{712}-\\x{72f}\\x{74d}-\\x{7a5}\\x{7b1}\\x{7ca}-\\x{7ea}\\x{7f4}-\\x{7f5}\\x{7fa}\\x{800}-\\x{815}\\x{81a}\\x{824}\\x{828}\\x{840}-\\x{858}\\x{860}-\\x{86a}\\x{870}-\\x{887}\\x{889}-\\x{88f}\\x{8a0}-\\x{8c9}\\x{904}-\\x{939}\\x{93d}\\x{950}\\x{958}-\\x{961}\\x{971}-\\x{980}\\x{985}-\\x{98c}\\x{98f}-\\x{990}\\x{993}-\\x{9a8}\\x{9aa}-\\x{9b0}\\x{9b2}\\x{9b6}-\\x{9b9}\\x{9bd}\\x{9ce}\\x{9dc}-\\x{9dd}\\x{9df}-\\x{9e1}\\x{9f0}-\\x{9f1}\\x{9fc}\\x{a05}-\\x{a0a}\\x{a0f}-\\x{a10}\\x{a13}-\\x{a28}\\x{a2a}-\\x{a30}\\x{a32}-\\x{a33}\\x{a35}-\\x{a36}\\x{a38}-\\x{a39}\\x{a59}-\\x{a5c}\\x{a5e}\\x{a72}-\\x{a74}\\x{a85}-\\x{a8d}\\x{a8f}-\\x{a91}\\x{a93}-\\x{aa8}\\x{aaa}-\\x{ab0}\\x{ab2}-\\x{ab3}\\x{ab5}-\\x{ab9}\\x{abd}\\x{ad0}\\x{ae0}-\\x{ae1}\\x{af9}\\x{b05}-\\x{b0c}\\x{b0f}-\\x{b10}\\x{b13}-\\x{b28}\\x{b2a}-\\x{b30}\\x{b32}-\\x{b33}\\x{b35}-\\x{b39}\\x{b3d}\\x{b5c}-\\x{b5d}\\x{b5f}-\\x{b61}\\x{b71}\\x{b83}\\x{b85}-\\x{b8a}\\x{b8e}-\\x{b90}\\x{b92}-\\x{b95}\\x{b99}-\\x{b9a}\\x{b9c}\\x{b9e}-\\x{b9f}\\x{ba3}-\\x{ba4}\\x{ba8}-\\x{baa}\\x{bae}-\\x{bb9}\\x{bd0}\\x{c05}-\\x{c0c}\\x{c0e}-\\x{c10}\\x{c12}-\\x{c28}\\x{c2a}-\\x{c39}\\x{c3d}\\x{c58}-\\x{c5a}\\x{c5c}-\\x{c5d}\\x{c60}-\\x{c61}\\x{c80}\\x{c85}-\\x{c8c}\\x{c8e}-\\x{c90}\\x{c92}-\\x{ca8}\\x{caa}-\\x{cb3}\\x{cb5}-\\x{cb9}\\x{cbd}\\x{cdc}-\\x{cde}\\x{ce0}-\\x{ce1}\\x{cf1}-\\x{cf2}\\x{d04}-\\x{d0c}\\x{d0e}-\\x{d10}\\x{d12}-\\x{d3a}\\x{d3d}\\x{d4e}\\x{d54}-\\x{d56}\\x{d5f}-\\x{d61}\\x{d7a}-\\x{d7f}\\x{d85}-\\x{d96}\\x{d9a}-\\x{db1}\\x{db3}-\\x{dbb}\\x{dbd}\\x{dc0}-\\x{dc6}\\x{e01}-\\x{e30}\\x{e32}-\\x{e33}\\x{e40}-\\x{e46}\\x{e81}-\\x{e82}\\x{e84}\\x{e86}-\\x{e8a}\\x{e8c}-\\x{ea3}\\x{ea5}\\x{ea7}-\\x{eb0}\\x{eb2}-\\x{eb3}\\x{ebd}\\x{ec0}-\\x{ec4}\\x{ec6}\\x{edc}-\\x{edf}\\x{f00}\\x{f40}-\\x{f47}\\x{f49}-\\x{f6c}\\x{f88}-\\x{f8c}\\x{1000}-\\x{102a}\\x{103f}\\x{1050}-\\x{1055}\\x{105a}-\\x{105d}\\x{1061}\\x{1065}-\\x{1066}\\x{106e}-\\x{1070}\\x{1075}-\\x{1081}\\x{108e}\\x{10a0}-\\x{10c5}\\x{10c7}\\x{10cd}\\x{10d0}-\\x{10fa}\\x{10fc}-\\x{1248}\\x{124a}-\\x{124d}\\x{1250}-\\x{1256}\\x{1258}\\x{125a}-\\x{125d}\\x{1260}-\\x{1288}\\x{128a}-\\x{128d}\\x{1290}-\\x{12b0}\\x{12b2}-\\x{12b5}\\x{12b8}-\\x{12be}\\x{12c0}\\x{12c2}-\\x{12c5}\\x{12c8}-\\x{12d6}\\x{12d8}-\\x{1310}\\x{1312}-\\x{1315}\\x{1318}-\\x{135a}\\x{1380}-\\x{138f}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1401}-\\x{166c}\\x{166f}-\\x{167f}\\x{1681}-\\x{169a}\\x{16a0}-\\x{16ea}\\x{16f1}-\\x{16f8}\\x{1700}-\\x{1711}\\x{171f}-\\x{1731}\\x{1740}-\\x{1751}\\x{1760}-\\x{176c}\\x{176e}-\\x{1770}\\x{1780}-\\x{17b3}\\x{17d7}\\x{17dc}\\x{1820}-\\x{1878}\\x{1880}-\\x{1884}\\x{1887}-\\x{18a8}\\x{18aa}\\x{18b0}-\\x{18f5}\\x{1900}-\\x{191e}\\x{1950}-\\x{196d}\\x{1970}-\\x{1974}\\x{1980}-\\x{19ab}\\x{19b0}-\\x{19c9}\\x{1a00}-\\x{1a16}\\x{1a20}-\\x{1a54}\\x{1aa7}\\x{1b05}-\\x{1b33}\\x{1b45}-\\x{1b4c}\\x{1b83}-\\x{1ba0}\\x{1bae}-\\x{1baf}\\x{1bba}-\\x{1be5}\\x{1c00}-\\x{1c23}\\x{1c4d}-\\x{1c4f}\\x{1c5a}-\\x{1c7d}\\x{1c80}-\\x{1c8a}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1ce9}-\\x{1cec}\\x{1cee}-\\x{1cf3}\\x{1cf5}-\\x{1cf6}\\x{1cfa}\\x{1d00}-\\x{1dbf}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2071}\\x{207f}\\x{208f}-\\x{209f}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}-\\x{2184}\\x{2c00}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}-\\x{2cf3}\\x{2d00}-\\x{2d25}\\x{2d27}\\x{2d2d}\\x{2d30}-\\x{2d67}\\x{2d6f}\\x{2d80}-\\x{2d96}\\x{2da0}-\\x{2da6}\\x{2da8}-\\x{2dae}\\x{2db0}-\\x{2db6}\\x{2db8}-\\x{2dbe}\\x{2dc0}-\\x{2dc6}\\x{2dc8}-\\x{2dce}\\x{2dd0}-\\x{2dd6}\\x{2dd8}-\\x{2dde}\\x{2e2f}\\x{3005}-\\x{3006}\\x{3031}-\\x{3035}\\x{303b}-\\x{303c}\\x{3041}-\\x{3096}\\x{309d}-\\x{309f}\\x{30a1}-\\x{30fa}\\x{30fc}-\\x{30ff}\\x{3105}-\\x{312f}\\x{3131}-\\x{318e}\\x{31a0}-\\x{31bf}\\x{31f0}-\\x{31ff}\\x{3400}-\\x{4dbf}\\x{4e00}-\\x{a48c}\\x{a4d0}-\\x{a4fd}\\x{a500}-\\x{a60c}\\x{a610}-\\x{a61f}\\x{a62a}-\\x{a62b}\\x{a640}-\\x{a66e}\\x{a67f}-\\x{a69d}\\x{a6a0}-\\x{a6e5}\\x{a717}-\\x{a71f}\\x{a722}-\\x{a788}\\x{a78b}-\\x{a7dd}\\x{a7e2}\\x{a7f1}-\\x{a801}\\x{a803}-\\x{a805}\\x{a807}-\\x{a80a}\\x{a80c}-\\x{a822}\\x{a840}-\\x{a873}\\x{a882}-\\x{a8b3}\\x{a8f2}-\\x{a8f7}\\x{a8fb}\\x{a8fd}-\\x{a8fe}\\x{a90a}-\\x{a925}\\x{a930}-\\x{a946}\\x{a960}-\\x{a97c}\\x{a984}-\\x{a9b2}\\x{a9cf}\\x{a9e0}-\\x{a9e4}\\x{a9e6}-\\x{a9ef}\\x{a9fa}-\\x{a9fe}\\x{aa00}-\\x{aa28}\\x{aa40}-\\x{aa42}\\x{aa44}-\\x{aa4b}\\x{aa60}-\\x{aa76}\\x{aa7a}\\x{aa7e}-\\x{aaaf}\\x{aab1}\\x{aab5}-\\x{aab6}\\x{aab9}-\\x{aabd}\\x{aac0}\\x{aac2}\\x{aadb}-\\x{aadd}\\x{aae0}-\\x{aaea}\\x{aaf2}-\\x{aaf4}\\x{ab01}-\\x{ab06}\\x{ab09}-\\x{ab0e}\\x{ab11}-\\x{ab16}\\x{ab20}-\\x{ab26}\\x{ab28}-\\x{ab2e}\\x{ab30}-\\x{ab5a}\\x{ab5c}-\\x{ab69}\\x{ab6c}-\\x{ab6d}\\x{ab70}-\\x{abe2}\\x{ac00}-\\x{d7a3}\\x{d7b0}-\\x{d7c6}\\x{d7cb}-\\x{d7fb}\\x{f900}-\\x{fa6d}\\x{fa70}-\\x{fad9}\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{fb1d}\\x{fb1f}-\\x{fb28}\\x{fb2a}-\\x{fb36}\\x{fb38}-\\x{fb3c}\\x{fb3e}\\x{fb40}-\\x{fb41}\\x{fb43}-\\x{fb44}\\x{fb46}-\\x{fbb1}\\x{fbd3}-\\x{fd3d}\\x{fd50}-\\x{fd8f}\\x{fd92}-\\x{fdc7}\\x{fdf0}-\\x{fdfb}\\x{fe70}-\\x{fe74}\\x{fe76}-\\x{fefc}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{ff66}-\\x{ffbe}\\x{ffc2}-\\x{ffc7}\\x{ffca}-\\x{ffcf}\\x{ffd2}-\\x{ffd7}\\x{ffda}-\\x{ffdc}\\x{10000}-\\x{1000b}\\x{1000d}-\\x{10026}\\x{10028}-\\x{1003a}\\x{1003c}-\\x{1003d}\\x{1003f}-\\x{1004d}\\x{10050}-\\x{1005d}\\x{10080}-\\x{100fa}\\x{10280}-\\x{1029c}\\x{102a0}-\\x{102d0}\\x{10300}-\\x{1031f}\\x{1032d}-\\x{10340}\\x{10342}-\\x{10349}\\x{10350}-\\x{10375}\\x{10380}-\\x{1039d}\\x{103a0}-\\x{103c3}\\x{103c8}-\\x{103cf}\\x{10400}-\\x{1049d}\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10500}-\\x{10527}\\x{10530}-\\x{10563}\\x{10570}-\\x{1057a}\\x{1057c}-\\x{1058a}\\x{1058c}-\\x{10592}\\x{10594}-\\x{10595}\\x{10597}-\\x{105a1}\\x{105a3}-\\x{105b1}\\x{105b3}-\\x{105b9}\\x{105bb}-\\x{105bc}\\x{105c0}-\\x{105f3}\\x{10600}-\\x{10736}\\x{10740}-\\x{10755}\\x{10760}-\\x{10767}\\x{10780}-\\x{10785}\\x{10787}-\\x{107b0}\\x{107b2}-\\x{107bf}\\x{10800}-\\x{10805}\\x{10808}\\x{1080a}-\\x{10835}\\x{10837}-\\x{10838}\\x{1083c}\\x{1083f}-\\x{10855}\\x{10860}-\\x{10876}\\x{10880}-\\x{1089e}\\x{108e0}-\\x{108f2}\\x{108f4}-\\x{108f5}\\x{10900}-\\x{10915}\\x{10920}-\\x{10939}\\x{10940}-\\x{10959}\\x{10980}-\\x{109b7}\\x{109be}-\\x{109bf}\\x{10a00}\\x{10a10}-\\x{10a13}\\x{10a15}-\\x{10a17}\\x{10a19}-\\x{10a35}\\x{10a60}-\\x{10a7c}\\x{10a80}-\\x{10a9c}\\x{10ac0}-\\x{10ac7}\\x{10ac9}-\\x{10ae4}\\x{10b00}-\\x{10b35}\\x{10b40}-\\x{10b55}\\x{10b60}-\\x{10b72}\\x{10b80}-\\x{10b91}\\x{10c00}-\\x{10c48}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{10d00}-\\x{10d23}\\x{10d4a}-\\x{10d65}\\x{10d6f}-\\x{10d85}\\x{10e80}-\\x{10ea9}\\x{10eb0}-\\x{10eb1}\\x{10ec2}-\\x{10ec7}\\x{10ed9}-\\x{10eee}\\x{10f00}-\\x{10f1c}\\x{10f27}\\x{10f30}-\\x{10f45}\\x{10f70}-\\x{10f81}\\x{10fb0}-\\x{10fc4}\\x{10fe0}-\\x{10ff6}\\x{11003}-\\x{11037}\\x{11071}-\\x{11072}\\x{11075}\\x{11083}-\\x{110af}\\x{110d0}-\\x{110e8}\\x{11103}-\\x{11126}\\x{11144}\\x{11147}\\x{11150}-\\x{11172}\\x{11176}\\x{11183}-\\x{111b2}\\x{111c1}-\\x{111c4}\\x{111da}\\x{111dc}\\x{11200}-\\x{11211}\\x{11213}-\\x{1122b}\\x{1123f}-\\x{11240}\\x{11280}-\\x{11286}\\x{11288}\\x{1128a}-\\x{1128d}\\x{1128f}-\\x{1129d}\\x{1129f}-\\x{112a8}\\x{112b0}-\\x{112de}\\x{11305}-\\x{1130c}\\x{1130f}-\\x{11310}\\x{11313}-\\x{11328}\\x{1132a}-\\x{11330}\\x{11332}-\\x{11333}\\x{11335}-\\x{11339}\\x{1133d}\\x{11350}\\x{1135d}-\\x{11361}\\x{11380}-\\x{11389}\\x{1138b}\\x{1138e}\\x{11390}-\\x{113b5}\\x{113b7}\\x{113d1}\\x{113d3}\\x{11400}-\\x{11434}\\x{11447}-\\x{1144a}\\x{1145f}-\\x{11461}\\x{11480}-\\x{114af}\\x{114c4}-\\x{114c5}\\x{114c7}\\x{11580}-\\x{115ae}\\x{115d8}-\\x{115db}\\x{11600}-\\x{1162f}\\x{11644}\\x{11680}-\\x{116aa}\\x{116b8}\\x{11700}-\\x{1171a}\\x{11740}-\\x{11746}\\x{11800}-\\x{1182b}\\x{118a0}-\\x{118df}\\x{118ff}-\\x{11906}\\x{11909}\\x{1190c}-\\x{11913}\\x{11915}-\\x{11916}\\x{11918}-\\x{1192f}\\x{1193f}\\x{11941}\\x{119a0}-\\x{119a7}\\x{119aa}-\\x{119d0}\\x{119e1}\\x{119e3}\\x{11a00}\\x{11a0b}-\\x{11a32}\\x{11a3a}\\x{11a50}\\x{11a5c}-\\x{11a89}\\x{11a9d}\\x{11ab0}-\\x{11af8}\\x{11b0a}\\x{11bc0}-\\x{11be0}\\x{11c00}-\\x{11c08}\\x{11c0a}-\\x{11c2e}\\x{11c40}\\x{11c72}-\\x{11c8f}\\x{11d00}-\\x{11d06}\\x{11d08}-\\x{11d09}\\x{11d0b}-\\x{11d30}\\x{11d46}\\x{11d60}-\\x{11d65}\\x{11d67}-\\x{11d68}\\x{11d6a}-\\x{11d89}\\x{11d98}\\x{11db0}-\\x{11ddb}\\x{11df1}\\x{11ee0}-\\x{11ef2}\\x{11f02}\\x{11f04}-\\x{11f10}\\x{11f12}-\\x{11f33}\\x{11fb0}\\x{12000}-\\x{12399}\\x{12480}-\\x{12543}\\x{12f90}-\\x{12ff0}\\x{13000}-\\x{1342f}\\x{13441}-\\x{13446}\\x{13460}-\\x{143fa}\\x{14400}-\\x{14646}\\x{16100}-\\x{1611d}\\x{16800}-\\x{16a38}\\x{16a40}-\\x{16a5e}\\x{16a70}-\\x{16abe}\\x{16ad0}-\\x{16aed}\\x{16b00}-\\x{16b2f}\\x{16b40}-\\x{16b43}\\x{16b63}-\\x{16b77}\\x{16b7d}-\\x{16b8f}\\x{16d40}-\\x{16d6c}\\x{16e40}-\\x{16e7f}\\x{16ea0}-\\x{16eb8}\\x{16ebb}-\\x{16ed3}\\x{16f00}-\\x{16f4a}\\x{16f50}\\x{16f93}-\\x{16f9f}\\x{16fe0}-\\x{16fe1}\\x{16fe3}\\x{16ff2}-\\x{16ff3}\\x{17000}-\\x{18cda}\\x{18cff}-\\x{18d20}\\x{18d80}-\\x{18df2}\\x{18e00}-\\x{19191}\\x{191a0}-\\x{191d2}\\x{1aff0}-\\x{1aff3}\\x{1aff5}-\\x{1affb}\\x{1affd}-\\x{1affe}\\x{1b000}-\\x{1b128}\\x{1b132}\\x{1b150}-\\x{1b152}\\x{1b155}\\x{1b164}-\\x{1b168}\\x{1b170}-\\x{1b2fb}\\x{1bc00}-\\x{1bc6a}\\x{1bc70}-\\x{1bc7c}\\x{1bc80}-\\x{1bc88}\\x{1bc90}-\\x{1bc99}\\x{1d400}-\\x{1d454}\\x{1d456}-\\x{1d49c}\\x{1d49e}-\\x{1d49f}\\x{1d4a2}\\x{1d4a5}-\\x{1d4a6}\\x{1d4a9}-\\x{1d4ac}\\x{1d4ae}-\\x{1d4b9}\\x{1d4bb}\\x{1d4bd}-\\x{1d4c3}\\x{1d4c5}-\\x{1d505}\\x{1d507}-\\x{1d50a}\\x{1d50d}-\\x{1d514}\\x{1d516}-\\x{1d51c}\\x{1d51e}-\\x{1d539}\\x{1d53b}-\\x{1d53e}\\x{1d540}-\\x{1d544}\\x{1d546}\\x{1d54a}-\\x{1d550}\\x{1d552}-\\x{1d6a6}\\x{1d6a8}-\\x{1d6c0}\\x{1d6c2}-\\x{1d6da}\\x{1d6dc}-\\x{1d6fa}\\x{1d6fc}-\\x{1d714}\\x{1d716}-\\x{1d734}\\x{1d736}-\\x{1d74e}\\x{1d750}-\\x{1d76e}\\x{1d770}-\\x{1d788}\\x{1d78a}-\\x{1d7a8}\\x{1d7aa}-\\x{1d7c2}\\x{1d7c4}-\\x{1d7cb}\\x{1df00}-\\x{1df81}\\x{1df90}-\\x{1df96}\\x{1dfcd}-\\x{1dfff}\\x{1e030}-\\x{1e06d}\\x{1e100}-\\x{1e12c}\\x{1e137}-\\x{1e13d}\\x{1e14e}\\x{1e290}-\\x{1e2ad}\\x{1e2c0}-\\x{1e2eb}\\x{1e4d0}-\\x{1e4eb}\\x{1e5d0}-\\x{1e5ed}\\x{1e5f0}\\x{1e6c0}-\\x{1e6de}\\x{1e6e0}-\\x{1e6e2}\\x{1e6e4}-\\x{1e6e5}\\x{1e6e7}-\\x{1e6ed}\\x{1e6f0}-\\x{1e6f4}\\x{1e6fe}-\\x{1e6ff}\\x{1e7e0}-\\x{1e7e6}\\x{1e7e8}-\\x{1e7eb}\\x{1e7ed}-\\x{1e7ee}\\x{1e7f0}-\\x{1e7fe}\\x{1e800}-\\x{1e8c4}\\x{1e900}-\\x{1e943}\\x{1e94b}\\x{1ee00}-\\x{1ee03}\\x{1ee05}-\\x{1ee1f}\\x{1ee21}-\\x{1ee22}\\x{1ee24}\\x{1ee27}\\x{1ee29}-\\x{1ee32}\\x{1ee34}-\\x{1ee37}\\x{1ee39}\\x{1ee3b}\\x{1ee42}\\x{1ee47}\\x{1ee49}\\x{1ee4b}\\x{1ee4d}-\\x{1ee4f}\\x{1ee51}-\\x{1ee52}\\x{1ee54}\\x{1ee57}\\x{1ee59}\\x{1ee5b}\\x{1ee5d}\\x{1ee5f}\\x{1ee61}-\\x{1ee62}\\x{1ee64}\\x{1ee67}-\\x{1ee6a}\\x{1ee6c}-\\x{1ee72}\\x{1ee74}-\\x{1ee77}\\x{1ee79}-\\x{1ee7c}\\x{1ee7e}\\x{1ee80}-\\x{1ee89}\\x{1ee8b}-\\x{1ee9b}\\x{1eea1}-\\x{1eea3}\\x{1eea5}-\\x{1eea9}\\x{1eeab}-\\x{1eebb}\\x{20000}-\\x{2a6df}\\x{2a700}-\\x{2b81e}\\x{2b820}-\\x{2cead}\\x{2ceb0}-\\x{2ebe0}\\x{2ebf0}-\\x{2ee5d}\\x{2f800}-\\x{2fa1d}\\x{30000}-\\x{3134a}\\x{31350}-\\x{33479}\\x{3d000}-\\x{3fc3f}\\x{30}-\\x{39}\\x{b2}-\\x{b3}\\x{b9}\\x{bc}-\\x{be}\\x{660}-\\x{669}\\x{6f0}-\\x{6f9}\\x{7c0}-\\x{7c9}\\x{966}-\\x{96f}\\x{9e6}-\\x{9ef}\\x{9f4}-\\x{9f9}\\x{a66}-\\x{a6f}\\x{ae6}-\\x{aef}\\x{b66}-\\x{b6f}\\x{b72}-\\x{b77}\\x{be6}-\\x{bf2}\\x{c66}-\\x{c6f}\\x{c78}-\\x{c7e}\\x{ce6}-\\x{cef}\\x{d58}-\\x{d5e}\\x{d66}-\\x{d78}\\x{de6}-\\x{def}\\x{e50}-\\x{e59}\\x{ed0}-\\x{ed9}\\x{f20}-\\x{f33}\\x{1040}-\\x{1049}\\x{1090}-\\x{1099}\\x{1369}-\\x{137c}\\x{16ee}-\\x{16f0}\\x{17e0}-\\x{17e9}\\x{17f0}-\\x{17f9}\\x{1810}-\\x{1819}\\x{1946}-\\x{194f}\\x{19d0}-\\x{19da}\\x{1a80}-\\x{1a89}\\x{1a90}-\\x{1a99}\\x{1b50}-\\x{1b59}\\x{1bb0}-\\x{1bb9}\\x{1c40}-\\x{1c49}\\x{1c50}-\\x{1c59}\\x{2070}\\x{2074}-\\x{2079}\\x{2080}-\\x{2089}\\x{2150}-\\x{2182}\\x{2185}-\\x{2189}\\x{2460}-\\x{249b}\\x{24ea}-\\x{24ff}\\x{2776}-\\x{2793}\\x{2cfd}\\x{3007}\\x{3021}-\\x{3029}\\x{3038}-\\x{303a}\\x{3192}-\\x{3195}\\x{3220}-\\x{3229}\\x{3248}-\\x{324f}\\x{3251}-\\x{325f}\\x{3280}-\\x{3289}\\x{32b1}-\\x{32bf}\\x{a620}-\\x{a629}\\x{a6e6}-\\x{a6ef}\\x{a830}-\\x{a835}\\x{a8d0}-\\x{a8d9}\\x{a900}-\\x{a909}\\x{a9d0}-\\x{a9d9}\\x{a9f0}-\\x{a9f9}\\x{aa50}-\\x{aa59}\\x{abf0}-\\x{abf9}\\x{ff10}-\\x{ff19}\\x{10107}-\\x{10133}\\x{10140}-\\x{10178}\\x{1018a}-\\x{1018b}\\x{102e1}-\\x{102fb}\\x{10320}-\\x{10323}\\x{10341}\\x{1034a}\\x{103d1}-\\x{103d5}\\x{104a0}-\\x{104a9}\\x{10858}-\\x{1085f}\\x{10879}-\\x{1087f}\\x{108a7}-\\x{108af}\\x{108fb}-\\x{108ff}\\x{10916}-\\x{1091b}\\x{109bc}-\\x{109bd}\\x{109c0}-\\x{109cf}\\x{109d2}-\\x{109ff}\\x{10a40}-\\x{10a48}\\x{10a7d}-\\x{10a7e}\\x{10a9d}-\\x{10a9f}\\x{10aeb}-\\x{10aef}\\x{10b58}-\\x{10b5f}\\x{10b78}-\\x{10b7f}\\x{10ba9}-\\x{10baf}\\x{10cfa}-\\x{10cff}\\x{10d30}-\\x{10d39}\\x{10d40}-\\x{10d49}\\x{10e60}-\\x{10e7e}\\x{10f1d}-\\x{10f26}\\x{10f51}-\\x{10f54}\\x{10fc5}-\\x{10fcb}\\x{11052}-\\x{1106f}\\x{110f0}-\\x{110f9}\\x{11136}-\\x{1113f}\\x{111d0}-\\x{111d9}\\x{111e1}-\\x{111f4}\\x{112f0}-\\x{112f9}\\x{11450}-\\x{11459}\\x{114d0}-\\x{114d9}\\x{11650}-\\x{11659}\\x{116c0}-\\x{116c9}\\x{116d0}-\\x{116e3}\\x{11730}-\\x{1173b}\\x{118e0}-\\x{118f2}\\x{11950}-\\x{11959}\\x{11bf0}-\\x{11bf9}\\x{11c50}-\\x{11c6c}\\x{11d50}-\\x{11d59}\\x{11da0}-\\x{11da9}\\x{11de0}-\\x{11de9}\\x{11f50}-\\x{11f59}\\x{11fc0}-\\x{11fd4}\\x{12400}-\\x{1246f}\\x{12475}-\\x{1247f}\\x{12550}-\\x{12686}\\x{16130}-\\x{16139}\\x{16a60}-\\x{16a69}\\x{16ac0}-\\x{16ac9}\\x{16b50}-\\x{16b59}\\x{16b5b}-\\x{16b61}\\x{16d70}-\\x{16d79}\\x{16e80}-\\x{16e96}\\x{16ff4}-\\x{16ff6}\\x{1ccf0}-\\x{1ccf9}\\x{1d2c0}-\\x{1d2d3}\\x{1d2e0}-\\x{1d2f3}\\x{1d360}-\\x{1d378}\\x{1d7ce}-\\x{1d7ff}\\x{1e140}-\\x{1e149}\\x{1e2f0}-\\x{1e2f9}\\x{1e4f0}-\\x{1e4f9}\\x{1e5f1}-\\x{1e5fa}\\x{1e8c7}-\\x{1e8cf}\\x{1e950}-\\x{1e959}\\x{1ec71}-\\x{1ecab}\\x{1ecad}-\\x{1ecaf}\\x{1ecb1}-\\x{1ecb4}\\x{1ed01}-\\x{1ed2d}\\x{1ed2f}-\\x{1ed3d}\\x{1f100}-\\x{1f10c}\\x{1fbf0}-\\x{1fbf9}]+|[\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}-\\x{2029}\\x{202f}\\x{205f}\\x{3000}]+(?![^\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}-\\x{2029}\\x{202f}\\x{205f}\\x{3000}])|[\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}-\\x{2029}\\x{202f}\\x{205f}\\x{3000}]', 0)) u AS i, piece;
-- byte pair encoding as a bounded loop, not a recursion: each pre-token's parts (a byte
-- each, as hex) go through as many rounds as it has bytes (`aggregate`), each merging the adjacent
-- pair of lowest merge rank, the leftmost of equals, if one is a token. The ranks are a map of the
-- merges that occur in some pre-token (Spark looks a map's keys up one by one).
CREATE TABLE prompt_tokens USING parquet AS
WITH
  ranks AS (SELECT map_from_entries(collect_list(struct(v.hex, v.merge_rank))) AS ranks
            FROM vocab v LEFT SEMI JOIN pieces p ON instr(p.hex, v.hex) > 0 WHERE v.merge_rank IS NOT NULL),
  parts AS (SELECT piece, transform(sequence(1, length(hex) DIV 2), i_ -> substr(hex, 2 * i_ - 1, 2)) AS ps
            FROM pieces),
  merged AS (SELECT p.piece, aggregate(p.ps, p.ps, (ps_, x_) -> transform(array(array_min(filter(transform(zip_with(slice(ps_, 1, size(ps_) - 1), slice(ps_, 2, size(ps_) - 1), (a_, b_) -> a_ || b_), (p_, j_) -> named_struct('rank', try_element_at(r.ranks, p_), 'j', j_ + 1)), c_ -> c_.rank IS NOT NULL))), b_ -> CASE WHEN b_ IS NULL THEN ps_ ELSE concat(slice(ps_, 1, b_.j - 1), array(ps_[b_.j - 1] || ps_[b_.j]), slice(ps_, b_.j + 2, size(ps_))) END)[0]) AS ps FROM parts p, ranks r),
  tokens AS (SELECT piece, posexplode(ps) AS (k, part) FROM merged)
SELECT CAST(row_number() OVER (ORDER BY t.piece, t.k) - 1 AS INT) AS pos, v.id AS token
FROM tokens t JOIN vocab v ON v.hex = t.part;

-- ===== the session: its tokens and KV cache =====
-- the tokens so far
CREATE TABLE tokens (pos INT, token INT) USING parquet;
-- the residual stream entering layer 0
CREATE TABLE x0 (pos INT, x ARRAY<FLOAT>) USING parquet;
-- the residual stream entering layer 1
CREATE TABLE x1 (pos INT, x ARRAY<FLOAT>) USING parquet;
-- the residual stream after the last layer
CREATE TABLE x2 (pos INT, x ARRAY<FLOAT>) USING parquet;
-- the final norm's output
CREATE TABLE final (pos INT, xn ARRAY<FLOAT>) USING parquet;
-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache0 (kind INT, hd INT, pos INT, vec ARRAY<FLOAT>) USING parquet;
-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache1 (kind INT, hd INT, pos INT, vec ARRAY<FLOAT>) USING parquet;
-- the prompt's tokens
INSERT INTO tokens SELECT pos, token FROM prompt_tokens;
-- an empty prompt is <|endoftext|>
INSERT INTO tokens SELECT 0, 264 WHERE NOT EXISTS (SELECT 1 FROM tokens);
-- where the next step starts: the first position not yet in the residual stream
CREATE TABLE step_start (pos INTEGER) USING parquet;
INSERT INTO step_start VALUES (0);
-- the tokens picked, one per step
CREATE TABLE picked (k INTEGER, token INTEGER) USING parquet;

-- ===== each token's work, defined once: the forward step from position (SELECT pos FROM step_start), then the pick =====
-- step_01: token embedding + position embedding: the residual stream x0
CREATE TEMP VIEW step_01 AS
SELECT t.pos, transform(e.w, (v_, i_) -> v_ + p.w[i_]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= (SELECT pos FROM step_start);
-- step_02: layer 0: norm 1 and the QKV projection; cache each head's query, key and value
CREATE TEMP VIEW step_02 AS
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= (SELECT pos FROM step_start)) s),
  units AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y FROM m_<schema>.h0_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;
-- step_03: layer 0: causal self-attention, projection + residual, then the MLP + residual
CREATE TEMP VIEW step_03 AS
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache0 WHERE kind <> 0 GROUP BY kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> vector_inner_product(q.vec, u_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache0 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd
           WHERE q.kind = 0 AND q.pos >= (SELECT pos FROM step_start)),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT pos, hd, vt, e, vector_inner_product(e, array_repeat(CAST(1 AS FLOAT), size(e))) AS z FROM (SELECT pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(vector_inner_product(w.e, slice(u_, 0 + 1, w.pos + 1)) / w.z AS FLOAT)) AS y FROM weights w),
  attn AS (SELECT pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + x.x[n_] AS FLOAT)) AS x FROM attn a JOIN x0 x ON x.pos = a.pos CROSS JOIN m_<schema>.h0_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y, n.x AS resid FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS FLOAT)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + a.resid[n_] AS FLOAT)) AS x FROM fc a CROSS JOIN m_<schema>.h0_mlp_proj m;
-- step_04: layer 1: norm 1 and the QKV projection; cache each head's query, key and value
CREATE TEMP VIEW step_04 AS
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= (SELECT pos FROM step_start)) s),
  units AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y FROM m_<schema>.h1_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;
-- step_05: layer 1: causal self-attention, projection + residual, then the MLP + residual
CREATE TEMP VIEW step_05 AS
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache1 WHERE kind <> 0 GROUP BY kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> vector_inner_product(q.vec, u_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache1 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd
           WHERE q.kind = 0 AND q.pos >= (SELECT pos FROM step_start)),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT pos, hd, vt, e, vector_inner_product(e, array_repeat(CAST(1 AS FLOAT), size(e))) AS z FROM (SELECT pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(vector_inner_product(w.e, slice(u_, 0 + 1, w.pos + 1)) / w.z AS FLOAT)) AS y FROM weights w),
  attn AS (SELECT pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + x.x[n_] AS FLOAT)) AS x FROM attn a JOIN x1 x ON x.pos = a.pos CROSS JOIN m_<schema>.h1_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y, n.x AS resid FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS FLOAT)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + a.resid[n_] AS FLOAT)) AS x FROM fc a CROSS JOIN m_<schema>.h1_mlp_proj m;
-- step_06: final norm
CREATE TEMP VIEW step_06 AS
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= (SELECT pos FROM step_start)) s)
SELECT s.pos, transform(s.x, (u_, n_) -> CAST((u_ - s.mu) * s.r * f.g[n_] + f.b[n_] AS FLOAT)) AS xn FROM n s, m_<schema>.ln_f f;
-- pick: the next token, greedily: the highest logit, the lower id of equals (NumPy's argmax)
CREATE TEMP VIEW pick AS
SELECT (SELECT count(*) FROM picked), l.j FROM (SELECT * FROM (SELECT t.*, row_number() OVER (ORDER BY logit DESC, j) AS rank FROM (SELECT j, logit FROM (SELECT f.pos, e.j, vector_inner_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos = (SELECT max(pos) FROM tokens)) a WHERE j < 265) t) ranked WHERE rank <= 1) l WHERE TRUE AND NOT EXISTS (SELECT 1 FROM picked WHERE token = 264);

-- ===== token 1 of 5 =====
INSERT OVERWRITE TABLE step_start SELECT (SELECT count(*) FROM x0) AS pos;
INSERT INTO x0 SELECT * FROM step_01;
INSERT INTO cache0 SELECT * FROM step_02;
INSERT INTO x1 SELECT * FROM step_03;
INSERT INTO cache1 SELECT * FROM step_04;
INSERT INTO x2 SELECT * FROM step_05;
INSERT INTO final SELECT * FROM step_06;
INSERT INTO picked SELECT * FROM pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 2 of 5 =====
INSERT OVERWRITE TABLE step_start SELECT (SELECT count(*) FROM x0) AS pos;
INSERT INTO x0 SELECT * FROM step_01;
INSERT INTO cache0 SELECT * FROM step_02;
INSERT INTO x1 SELECT * FROM step_03;
INSERT INTO cache1 SELECT * FROM step_04;
INSERT INTO x2 SELECT * FROM step_05;
INSERT INTO final SELECT * FROM step_06;
INSERT INTO picked SELECT * FROM pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 3 of 5 =====
INSERT OVERWRITE TABLE step_start SELECT (SELECT count(*) FROM x0) AS pos;
INSERT INTO x0 SELECT * FROM step_01;
INSERT INTO cache0 SELECT * FROM step_02;
INSERT INTO x1 SELECT * FROM step_03;
INSERT INTO cache1 SELECT * FROM step_04;
INSERT INTO x2 SELECT * FROM step_05;
INSERT INTO final SELECT * FROM step_06;
INSERT INTO picked SELECT * FROM pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 4 of 5 =====
INSERT OVERWRITE TABLE step_start SELECT (SELECT count(*) FROM x0) AS pos;
INSERT INTO x0 SELECT * FROM step_01;
INSERT INTO cache0 SELECT * FROM step_02;
INSERT INTO x1 SELECT * FROM step_03;
INSERT INTO cache1 SELECT * FROM step_04;
INSERT INTO x2 SELECT * FROM step_05;
INSERT INTO final SELECT * FROM step_06;
INSERT INTO picked SELECT * FROM pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 5 of 5 =====
INSERT OVERWRITE TABLE step_start SELECT (SELECT count(*) FROM x0) AS pos;
INSERT INTO x0 SELECT * FROM step_01;
INSERT INTO cache0 SELECT * FROM step_02;
INSERT INTO x1 SELECT * FROM step_03;
INSERT INTO cache1 SELECT * FROM step_04;
INSERT INTO x2 SELECT * FROM step_05;
INSERT INTO final SELECT * FROM step_06;
INSERT INTO picked SELECT * FROM pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== the generated text =====
-- the generated text: the tokens' bytes, decoded from UTF-8 (U+FFFD for invalid bytes)
WITH RECURSIVE
  bytes AS (SELECT row_number() OVER (ORDER BY g.k, n.i) AS o, (instr('0123456789abcdef', substr(v.hex, 2 * n.i - 1, 1)) - 1) * 16 + (instr('0123456789abcdef', substr(v.hex, 2 * n.i - 0, 1)) - 1) AS b
            FROM picked g JOIN vocab v ON v.id = g.token JOIN nums n ON n.i <= (length(v.hex)) DIV 2 WHERE g.token <> 264),
  ahead AS (SELECT o, b AS b0, lead(b, 1) OVER (ORDER BY o) AS b1, lead(b, 2) OVER (ORDER BY o) AS b2,
                   lead(b, 3) OVER (ORDER BY o) AS b3 FROM bytes),
  -- need: continuation bytes the first byte announces (-1: it cannot start a character);
  -- ok: how many of the next bytes continue it validly (the second byte's range depends on the first)
  seq AS (SELECT o, b0, b1, b2, b3,
                 CASE WHEN b0 < 128 THEN 0 WHEN b0 BETWEEN 194 AND 223 THEN 1 WHEN b0 BETWEEN 224 AND 239 THEN 2
                      WHEN b0 BETWEEN 240 AND 244 THEN 3 ELSE -1 END AS need,
                 CASE WHEN NOT coalesce(b1 BETWEEN (CASE b0 WHEN 224 THEN 160 WHEN 240 THEN 144 ELSE 128 END) AND (CASE b0 WHEN 237 THEN 159 WHEN 244 THEN 143 ELSE 191 END), FALSE) THEN 0 WHEN NOT coalesce(b2 BETWEEN 128 AND 191, FALSE) THEN 1 WHEN NOT coalesce(b3 BETWEEN 128 AND 191, FALSE) THEN 2 ELSE 3 END AS ok
          FROM ahead),
  chars AS (SELECT o, CASE WHEN need >= 0 AND ok >= need THEN need + 1 WHEN need < 0 THEN 1 ELSE ok + 1 END AS width,
                   CASE WHEN need = 0 AND b0 > 0 THEN format_string('%c', CAST(b0 AS INT)) WHEN need > 0 AND ok >= need THEN format_string('%c', CAST(CASE need WHEN 1 THEN (b0 - 192) * 64 + b1 - 128 WHEN 2 THEN (b0 - 224) * 4096 + (b1 - 128) * 64 + b2 - 128 ELSE (b0 - 240) * 262144 + (b1 - 128) * 4096 + (b2 - 128) * 64 + b3 - 128 END AS INT))
                        ELSE format_string('%c', CAST(65533 AS INT)) END AS piece FROM seq),
  walk AS (SELECT sort_array(collect_list(struct(o, width, piece))) AS cs FROM chars)
SELECT aggregate(cs, named_struct('o', 1, 'txt', CAST('' AS STRING)), (a_, c_) -> CASE WHEN c_.o = a_.o THEN named_struct('o', a_.o + c_.width, 'txt', a_.txt || c_.piece) ELSE a_ END).txt FROM walk;
USE default;
DROP DATABASE sqlgpt_script CASCADE;
