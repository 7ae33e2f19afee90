-- sqlgpt: GPT in SQL, exact and cached. tiny (0.0M parameters) continues the prompt below by up to
-- 5 tokens, sampled at temperature 0.8 with seed 1234, all in postgres: the tokenizer, the forward
-- passes with a KV cache, each next token, and the text, which it prints: the text of
--     sqlgpt generate PROMPT -n 5 --temperature 0.8 --seed 1234 --model <model-dir>
-- Run it with
--     psql -X -f script.sql DATABASE
-- where DATABASE holds the model (schema m_<schema>), installed there once with
--     sqlgpt next x --model <model-dir> --engine postgres -d DATABASE
-- Token ids and text are exactly sqlgpt's, except:
-- * A NUL character in the generated text is printed as U+FFFD: no database's text holds NUL.
-- * Softmax and cumulative sums add up in the database's order, not NumPy's: a different token
--   only where a draw falls within rounding error (~1e-15) of a bucket's edge.

\set ON_ERROR_STOP on
\set QUIET on
SET client_encoding = 'UTF8';  -- this file is UTF-8
SET standard_conforming_strings = on;  -- a backslash in a string is just a backslash

-- ===== the model must be installed =====
DO $check$ BEGIN IF (SELECT count(*) FROM sqlgpt_models WHERE schema_name = 'm_<schema>' AND format_version = 2003) <> 1 THEN RAISE EXCEPTION 'model m_<schema> is not installed in this database (in this layout): see the header of this script'; END IF; END $check$;

-- ===== the tokenizer's tables =====
-- the vocabulary: every token's bytes (hex) and merge rank (lower merges first)
CREATE TEMP TABLE vocab (id INTEGER PRIMARY KEY, hex text NOT NULL, merge_rank INTEGER);
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
-- tokens are looked up by their bytes
CREATE INDEX vocab_hex ON vocab (hex);

-- ===== the prompt's token ids, encoded in SQL =====
-- the prompt: the script's one piece of user text
CREATE TEMP TABLE prompt AS SELECT CAST('the cat' AS text) AS txt;
-- the numbers 1, 2, ...: as many as the longest hex string (a token or the prompt) has characters
CREATE TEMP TABLE nums AS WITH RECURSIVE
  top AS MATERIALIZED (SELECT max(k) AS k FROM (SELECT max(length(hex)) AS k FROM vocab UNION ALL SELECT length(encode(convert_to(txt, 'UTF8'), 'hex')) FROM prompt) a),
  n(i) AS (SELECT 1 UNION ALL SELECT n.i + 1 FROM n, top WHERE n.i < top.k)
SELECT i FROM n;
-- the pre-tokens: GPT-2's pattern splits the prompt into words, numbers, symbols and spaces
CREATE TEMP TABLE pieces (piece INTEGER, hex text);
-- PostgreSQL's regex has GPT-2's lookahead, but takes the longest of the alternatives that match
-- where GPT-2's takes the first: a final `\s+` would swallow the run that `\s+(?!\S)` ends early,
-- so it is `\s` here, the same wherever GPT-2's pattern gets to it.
INSERT INTO pieces
SELECT u.i, encode(convert_to(u.m[1], 'UTF8'), 'hex') FROM prompt p, regexp_matches(p.txt, '''s|''t|''re|''ve|''m|''ll|''d| ?[\u0041-\u005a\u0061-\u007a\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02c1\u02c6-\u02d1\u02e0-\u02e4\u02ec\u02ee\u0370-\u0374\u0376-\u0377\u037a-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u0558-\u0559\u0560-\u0588\u058b-\u058c\u05d0-\u05ea\u05ef-\u05f2\u0620-\u064a\u066e-\u066f\u0671-\u06d3\u06d5\u06e5-\u06e6\u06ee-\u06ef\u06fa-\u06fc\u06ff\u0710\u0712-\u072f\u074d-\u07a5\u07b1\u07ca-\u07ea\u07f4-\u07f5\u07fa\u0800-\u0815\u081a\u0824\u0828\u0840-\u0858\u0860-\u086a\u0870-\u0887\u0889-\u088f\u08a0-\u08c9\u0904-\u0939\u093d\u0950\u0958-\u0961\u0971-\u0980\u0985-\u098c\u098f-\u0990\u0993-\u09a8\u09aa-\u09b0\u09b2\u09b6-\u09b9\u09bd\u09ce\u09dc-\u09dd\u09df-\u09e1\u09f0-\u09f1\u09fc\u0a05-\u0a0a\u0a0f-\u0a10\u0a13-\u0a28\u0a2a-\u0a30\u0a32-\u0a33\u0a35-\u0a36\u0a38-\u0a39\u0a59-\u0a5c\u0a5e\u0a72-\u0a74\u0a85-\u0a8d\u0a8f-\u0a91\u0a93-\u0aa8\u0aaa-\u0ab0\u0ab2-\u0ab3\u0ab5-\u0ab9\u0abd\u0ad0\u0ae0-\u0ae1\u0af9\u0b05-\u0b0c\u0b0f-\u0b10\u0b13-\u0b28\u0b2a-\u0b30\u0b32-\u0b33\u0b35-\u0b39\u0b3d\u0b5c-\u0b5d\u0b5f-\u0b61\u0b71\u0b83\u0b85-\u0b8a\u0b8e-\u0b90\u0b92-\u0b95\u0b99-\u0b9a\u0b9c\u0b9e-\u0b9f\u0ba3-\u0ba4\u0ba8-\u0baa\u0bae-\u0bb9\u0bd0\u0c05-\u0c0c\u0c0e-\u0c10\u0c12-\u0c28\u0c2a-\u0c39\u0c3d\u0c58-\u0c5a\u0c5c-\u0c5d\u0c60-\u0c61\u0c80\u0c85-\u0c8c\u0c8e-\u0c90\u0c92-\u0ca8\u0caa-\u0cb3\u0cb5-\u0cb9\u0cbd\u0cdc-\u0cde\u0ce0-\u0ce1\u0cf1-\u0cf2\u0d04-\u0d0c\u0d0e-\u0d10\u0d12-\u0d3a\u0d3d\u0d4e\u0d54-\u0d56\u0d5f-\u0d61\u0d7a-\u0d7f\u0d85-\u0d96\u0d9a-\u0db1\u0db3-\u0dbb\u0dbd\u0dc0-\u0dc6\u0e01-\u0e30\u0e32-\u0e33\u0e40-\u0e46\u0e81-\u0e82\u0e84\u0e86-\u0e8a\u0e8c-\u0ea3\u0ea5\u0ea7-\u0eb0\u0eb2-\u0eb3\u0ebd\u0ec0-\u0ec4\u0ec6\u0edc-\u0edf\u0f00\u0f40-\u0f47\u0f49-\u0f6c\u0f88-\u0f8c\u1000-\u102a\u103f\u1050-\u1055\u105a-\u105d\u1061\u1065-\u1066\u106e-\u1070\u1075-\u1081\u108e\u10a0-\u10c5\u10c7\u10cd\u10d0-\u10fa\u10fc-\u1248\u124a-\u124d\u1250-\u1256\u1258\u125a-\u125d\u1260-\u1288\u128a-\u128d\u1290-\u12b0\u12b2-\u12b5\u12b8-\u12be\u12c0\u12c2-\u12c5\u12c8-\u12d6\u12d8-\u1310\u1312-\u1315\u1318-\u135a\u1380-\u138f\u13a0-\u13f5\u13f8-\u13fd\u1401-\u166c\u166f-\u167f\u1681-\u169a\u16a0-\u16ea\u16f1-\u16f8\u1700-\u1711\u171f-\u1731\u1740-\u1751\u1760-\u176c\u176e-\u1770\u1780-\u17b3\u17d7\u17dc\u1820-\u1878\u1880-\u1884\u1887-\u18a8\u18aa\u18b0-\u18f5\u1900-\u191e\u1950-\u196d\u1970-\u1974\u1980-\u19ab\u19b0-\u19c9\u1a00-\u1a16\u1a20-\u1a54\u1aa7\u1b05-\u1b33\u1b45-\u1b4c\u1b83-\u1ba0\u1bae-\u1baf\u1bba-\u1be5\u1c00-\u1c23\u1c4d-\u1c4f\u1c5a-\u1c7d\u1c80-\u1c8a\u1c90-\u1cba\u1cbd-\u1cbf\u1ce9-\u1cec\u1cee-\u1cf3\u1cf5-\u1cf6\u1cfa\u1d00-\u1dbf\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2071\u207f\u208f-\u209f\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183-\u2184\u2c00-\u2ce4\u2ceb-\u2cee\u2cf2-\u2cf3\u2d00-\u2d25\u2d27\u2d2d\u2d30-\u2d67\u2d6f\u2d80-\u2d96\u2da0-\u2da6\u2da8-\u2dae\u2db0-\u2db6\u2db8-\u2dbe\u2dc0-\u2dc6\u2dc8-\u2dce\u2dd0-\u2dd6\u2dd8-\u2dde\u2e2f\u3005-\u3006\u3031-\u3035\u303b-\u303c\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3105-\u312f\u3131-\u318e\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\ua48c\ua4d0-\ua4fd\ua500-\ua60c\ua610-\ua61f\ua62a-\ua62b\ua640-\ua66e\ua67f-\ua69d\ua6a0-\ua6e5\ua717-\ua71f\ua722-\ua788\ua78b-\ua7dd\ua7e2\ua7f1-\ua801\ua803-\ua805\ua807-\ua80a\ua80c-\ua822\ua840-\ua873\ua882-\ua8b3\ua8f2-\ua8f7\ua8fb\ua8fd-\ua8fe\ua90a-\ua925\ua930-\ua946\ua960-\ua97c\ua984-\ua9b2\ua9cf\ua9e0-\ua9e4\ua9e6-\ua9ef\ua9fa-\ua9fe\uaa00-\uaa28\uaa40-\uaa42\uaa44-\uaa4b\uaa60-\uaa76\uaa7a\uaa7e-\uaaaf\uaab1\uaab5-\uaab6\uaab9-\uaabd\uaac0\uaac2\uaadb-\uaadd\uaae0-\uaaea\uaaf2-\uaaf4\uab01-\uab06\uab09-\uab0e\uab11-\uab16\uab20-\uab26\uab28-\uab2e\uab30-\uab5a\uab5c-\uab69\uab6c-\uab6d\uab70-\uabe2\uac00-\ud7a3\ud7b0-\ud7c6\ud7cb-\ud7fb\uf900-\ufa6d\ufa70-\ufad9\ufb00-\ufb06\ufb13-\ufb17\ufb1d\ufb1f-\ufb28\ufb2a-\ufb36\ufb38-\ufb3c\ufb3e\ufb40-\ufb41\ufb43-\ufb44\ufb46-\ufbb1\ufbd3-\ufd3d\ufd50-\ufd8f\ufd92-\ufdc7\ufdf0-\ufdfb\ufe70-\ufe74\ufe76-\ufefc\uff21-\uff3a\uff41-\uff5a\uff66-\uffbe\uffc2-\uffc7\uffca-\uffcf\uffd2-\uffd7\uffda-\uffdc\U00010000-\U0001000b\U0001000d-\U00010026\U00010028-\U0001003a\U0001003c-\U0001003d\U0001003f-\U0001004d\U00010050-\U0001005d\U00010080-\U000100fa\U00010280-\U0001029c\U000102a0-\U000102d0\U00010300-\U0001031f\U0001032d-\U00010340\U00010342-\U00010349\U00010350-\U00010375\U00010380-\U0001039d\U000103a0-\U000103c3\U000103c8-\U000103cf\U00010400-\U0001049d\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010500-\U00010527\U00010530-\U00010563\U00010570-\U0001057a\U0001057c-\U0001058a\U0001058c-\U00010592\U00010594-\U00010595\U00010597-\U000105a1\U000105a3-\U000105b1\U000105b3-\U000105b9\U000105bb-\U000105bc\U000105c0-\U000105f3\U00010600-\U00010736\U00010740-\U00010755\U00010760-\U00010767\U00010780-\U00010785\U00010787-\U000107b0\U000107b2-\U000107bf\U00010800-\U00010805\U00010808\U0001080a-\U00010835\U00010837-\U00010838\U0001083c\U0001083f-\U00010855\U00010860-\U00010876\U00010880-\U0001089e\U000108e0-\U000108f2\U000108f4-\U000108f5\U00010900-\U00010915\U00010920-\U00010939\U00010940-\U00010959\U00010980-\U000109b7\U000109be-\U000109bf\U00010a00\U00010a10-\U00010a13\U00010a15-\U00010a17\U00010a19-\U00010a35\U00010a60-\U00010a7c\U00010a80-\U00010a9c\U00010ac0-\U00010ac7\U00010ac9-\U00010ae4\U00010b00-\U00010b35\U00010b40-\U00010b55\U00010b60-\U00010b72\U00010b80-\U00010b91\U00010c00-\U00010c48\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U00010d00-\U00010d23\U00010d4a-\U00010d65\U00010d6f-\U00010d85\U00010e80-\U00010ea9\U00010eb0-\U00010eb1\U00010ec2-\U00010ec7\U00010ed9-\U00010eee\U00010f00-\U00010f1c\U00010f27\U00010f30-\U00010f45\U00010f70-\U00010f81\U00010fb0-\U00010fc4\U00010fe0-\U00010ff6\U00011003-\U00011037\U00011071-\U00011072\U00011075\U00011083-\U000110af\U000110d0-\U000110e8\U00011103-\U00011126\U00011144\U00011147\U00011150-\U00011172\U00011176\U00011183-\U000111b2\U000111c1-\U000111c4\U000111da\U000111dc\U00011200-\U00011211\U00011213-\U0001122b\U0001123f-\U00011240\U00011280-\U00011286\U00011288\U0001128a-\U0001128d\U0001128f-\U0001129d\U0001129f-\U000112a8\U000112b0-\U000112de\U00011305-\U0001130c\U0001130f-\U00011310\U00011313-\U00011328\U0001132a-\U00011330\U00011332-\U00011333\U00011335-\U00011339\U0001133d\U00011350\U0001135d-\U00011361\U00011380-\U00011389\U0001138b\U0001138e\U00011390-\U000113b5\U000113b7\U000113d1\U000113d3\U00011400-\U00011434\U00011447-\U0001144a\U0001145f-\U00011461\U00011480-\U000114af\U000114c4-\U000114c5\U000114c7\U00011580-\U000115ae\U000115d8-\U000115db\U00011600-\U0001162f\U00011644\U00011680-\U000116aa\U000116b8\U00011700-\U0001171a\U00011740-\U00011746\U00011800-\U0001182b\U000118a0-\U000118df\U000118ff-\U00011906\U00011909\U0001190c-\U00011913\U00011915-\U00011916\U00011918-\U0001192f\U0001193f\U00011941\U000119a0-\U000119a7\U000119aa-\U000119d0\U000119e1\U000119e3\U00011a00\U00011a0b-\U00011a32\U00011a3a\U00011a50\U00011a5c-\U00011a89\U00011a9d\U00011ab0-\U00011af8\U00011b0a\U00011bc0-\U00011be0\U00011c00-\U00011c08\U00011c0a-\U00011c2e\U00011c40\U00011c72-\U00011c8f\U00011d00-\U00011d06\U00011d08-\U00011d09\U00011d0b-\U00011d30\U00011d46\U00011d60-\U00011d65\U00011d67-\U00011d68\U00011d6a-\U00011d89\U00011d98\U00011db0-\U00011ddb\U00011df1\U00011ee0-\U00011ef2\U00011f02\U00011f04-\U00011f10\U00011f12-\U00011f33\U00011fb0\U00012000-\U00012399\U00012480-\U00012543\U00012f90-\U00012ff0\U00013000-\U0001342f\U00013441-\U00013446\U00013460-\U000143fa\U00014400-\U00014646\U00016100-\U0001611d\U00016800-\U00016a38\U00016a40-\U00016a5e\U00016a70-\U00016abe\U00016ad0-\U00016aed\U00016b00-\U00016b2f\U00016b40-\U00016b43\U00016b63-\U00016b77\U00016b7d-\U00016b8f\U00016d40-\U00016d6c\U00016e40-\U00016e7f\U00016ea0-\U00016eb8\U00016ebb-\U00016ed3\U00016f00-\U00016f4a\U00016f50\U00016f93-\U00016f9f\U00016fe0-\U00016fe1\U00016fe3\U00016ff2-\U00016ff3\U00017000-\U00018cda\U00018cff-\U00018d20\U00018d80-\U00018df2\U00018e00-\U00019191\U000191a0-\U000191d2\U0001aff0-\U0001aff3\U0001aff5-\U0001affb\U0001affd-\U0001affe\U0001b000-\U0001b128\U0001b132\U0001b150-\U0001b152\U0001b155\U0001b164-\U0001b168\U0001b170-\U0001b2fb\U0001bc00-\U0001bc6a\U0001bc70-\U0001bc7c\U0001bc80-\U0001bc88\U0001bc90-\U0001bc99\U0001d400-\U0001d454\U0001d456-\U0001d49c\U0001d49e-\U0001d49f\U0001d4a2\U0001d4a5-\U0001d4a6\U0001d4a9-\U0001d4ac\U0001d4ae-\U0001d4b9\U0001d4bb\U0001d4bd-\U0001d4c3\U0001d4c5-\U0001d505\U0001d507-\U0001d50a\U0001d50d-\U0001d514\U0001d516-\U0001d51c\U0001d51e-\U0001d539\U0001d53b-\U0001d53e\U0001d540-\U0001d544\U0001d546\U0001d54a-\U0001d550\U0001d552-\U0001d6a6\U0001d6a8-\U0001d6c0\U0001d6c2-\U0001d6da\U0001d6dc-\U0001d6fa\U0001d6fc-\U0001d714\U0001d716-\U0001d734\U0001d736-\U0001d74e\U0001d750-\U0001d76e\U0001d770-\U0001d788\U0001d78a-\U0001d7a8\U0001d7aa-\U0001d7c2\U0001d7c4-\U0001d7cb\U0001df00-\U0001df81\U0001df90-\U0001df96\U0001dfcd-\U0001dfff\U0001e030-\U0001e06d\U0001e100-\U0001e12c\U0001e137-\U0001e13d\U0001e14e\U0001e290-\U0001e2ad\U0001e2c0-\U0001e2eb\U0001e4d0-\U0001e4eb\U0001e5d0-\U0001e5ed\U0001e5f0\U0001e6c0-\U0001e6de\U0001e6e0-\U0001e6e2\U0001e6e4-\U0001e6e5\U0001e6e7-\U0001e6ed\U0001e6f0-\U0001e6f4\U0001e6fe-\U0001e6ff\U0001e7e0-\U0001e7e6\U0001e7e8-\U0001e7eb\U0001e7ed-\U0001e7ee\U0001e7f0-\U0001e7fe\U0001e800-\U0001e8c4\U0001e900-\U0001e943\U0001e94b\U0001ee00-\U0001ee03\U0001ee05-\U0001ee1f\U0001ee21-\U0001ee22\U0001ee24\U0001ee27\U0001ee29-\U0001ee32\U0001ee34-\U0001ee37\U0001ee39\U0001ee3b\U0001ee42\U0001ee47\U0001ee49\U0001ee4b\U0001ee4d-\U0001ee4f\U0001ee51-\U0001ee52\U0001ee54\U0001ee57\U0001ee59\U0001ee5b\U0001ee5d\U0001ee5f\U0001ee61-\U0001ee62\U0001ee64\U0001ee67-\U0001ee6a\U0001ee6c-\U0001ee72\U0001ee74-\U0001ee77\U0001ee79-\U0001ee7c\U0001ee7e\U0001ee80-\U0001ee89\U0001ee8b-\U0001ee9b\U0001eea1-\U0001eea3\U0001eea5-\U0001eea9\U0001eeab-\U0001eebb\U00020000-\U0002a6df\U0002a700-\U0002b81e\U0002b820-\U0002cead\U0002ceb0-\U0002ebe0\U0002ebf0-\U0002ee5d\U0002f800-\U0002fa1d\U00030000-\U0003134a\U00031350-\U00033479\U0003d000-\U0003fc3f]+| ?[\u0030-\u0039\u00b2-\u00b3\u00b9\u00bc-\u00be\u0660-\u0669\u06f0-\u06f9\u07c0-\u07c9\u0966-\u096f\u09e6-\u09ef\u09f4-\u09f9\u0a66-\u0a6f\u0ae6-\u0aef\u0b66-\u0b6f\u0b72-\u0b77\u0be6-\u0bf2\u0c66-\u0c6f\u0c78-\u0c7e\u0ce6-\u0cef\u0d58-\u0d5e\u0d66-\u0d78\u0de6-\u0def\u0e50-\u0e59\u0ed0-\u0ed9\u0f20-\u0f33\u1040-\u1049\u1090-\u1099\u1369-\u137c\u16ee-\u16f0\u17e0-\u17e9\u17f0-\u17f9\u1810-\u1819\u1946-\u194f\u19d0-\u19da\u1a80-\u1a89\u1a90-\u1a99\u1b50-\u1b59\u1bb0-\u1bb9\u1c40-\u1c49\u1c50-\u1c59\u2070\u2074-\u2079\u2080-\u2089\u2150-\u2182\u2185-\u2189\u2460-\u249b\u24ea-\u24ff\u2776-\u2793\u2cfd\u3007\u3021-\u3029\u3038-\u303a\u3192-\u3195\u3220-\u3229\u3248-\u324f\u3251-\u325f\u3280-\u3289\u32b1-\u32bf\ua620-\ua629\ua6e6-\ua6ef\ua830-\ua835\ua8d0-\ua8d9\ua900-\ua909\ua9d0-\ua9d9\ua9f0-\ua9f9\uaa50-\uaa59\uabf0-\uabf9\uff10-\uff19\U00010107-\U00010133\U00010140-\U00010178\U0001018a-\U0001018b\U000102e1-\U000102fb\U00010320-\U00010323\U00010341\U0001034a\U000103d1-\U000103d5\U000104a0-\U000104a9\U00010858-\U0001085f\U00010879-\U0001087f\U000108a7-\U000108af\U000108fb-\U000108ff\U00010916-\U0001091b\U000109bc-\U000109bd\U000109c0-\U000109cf\U000109d2-\U000109ff\U00010a40-\U00010a48\U00010a7d-\U00010a7e\U00010a9d-\U00010a9f\U00010aeb-\U00010aef\U00010b58-\U00010b5f\U00010b78-\U00010b7f\U00010ba9-\U00010baf\U00010cfa-\U00010cff\U00010d30-\U00010d39\U00010d40-\U00010d49\U00010e60-\U00010e7e\U00010f1d-\U00010f26\U00010f51-\U00010f54\U00010fc5-\U00010fcb\U00011052-\U0001106f\U000110f0-\U000110f9\U00011136-\U0001113f\U000111d0-\U000111d9\U000111e1-\U000111f4\U000112f0-\U000112f9\U00011450-\U00011459\U000114d0-\U000114d9\U00011650-\U00011659\U000116c0-\U000116c9\U000116d0-\U000116e3\U00011730-\U0001173b\U000118e0-\U000118f2\U00011950-\U00011959\U00011bf0-\U00011bf9\U00011c50-\U00011c6c\U00011d50-\U00011d59\U00011da0-\U00011da9\U00011de0-\U00011de9\U00011f50-\U00011f59\U00011fc0-\U00011fd4\U00012400-\U0001246f\U00012475-\U0001247f\U00012550-\U00012686\U00016130-\U00016139\U00016a60-\U00016a69\U00016ac0-\U00016ac9\U00016b50-\U00016b59\U00016b5b-\U00016b61\U00016d70-\U00016d79\U00016e80-\U00016e96\U00016ff4-\U00016ff6\U0001ccf0-\U0001ccf9\U0001d2c0-\U0001d2d3\U0001d2e0-\U0001d2f3\U0001d360-\U0001d378\U0001d7ce-\U0001d7ff\U0001e140-\U0001e149\U0001e2f0-\U0001e2f9\U0001e4f0-\U0001e4f9\U0001e5f1-\U0001e5fa\U0001e8c7-\U0001e8cf\U0001e950-\U0001e959\U0001ec71-\U0001ecab\U0001ecad-\U0001ecaf\U0001ecb1-\U0001ecb4\U0001ed01-\U0001ed2d\U0001ed2f-\U0001ed3d\U0001f100-\U0001f10c\U0001fbf0-\U0001fbf9]+| ?[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000\u0041-\u005a\u0061-\u007a\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02c1\u02c6-\u02d1\u02e0-\u02e4\u02ec\u02ee\u0370-\u0374\u0376-\u0377\u037a-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u0558-\u0559\u0560-\u0588\u058b-\u058c\u05d0-\u05ea\u05ef-\u05f2\u0620-\u064a\u066e-\u066f\u0671-\u06d3\u06d5\u06e5-\u06e6\u06ee-\u06ef\u06fa-\u06fc\u06ff\u0710\u0712-\u072f\u074d-\u07a5\u07b1\u07ca-\u07ea\u07f4-\u07f5\u07fa\u0800-\u0815\u081a\u0824\u0828\u0840-\u0858\u0860-\u086a\u0870-\u0887\u0889-\u088f\u08a0-\u08c9\u0904-\u0939\u093d\u0950\u0958-\u0961\u0971-\u0980\u0985-\u098c\u098f-\u0990\u0993-\u09a8\u09aa-\u09b0\u09b2\u09b6-\u09b9\u09bd\u09ce\u09dc-\u09dd\u09df-\u09e1\u09f0-\u09f1\u09fc\u0a05-\u0a0a\u0a0f-\u0a10\u0a13-\u0a28\u0a2a-\u0a30\u0a32-\u0a33\u0a35-\u0a36\u0a38-\u0a39\u0a59-\u0a5c\u0a5e\u0a72-\u0a74\u0a85-\u0a8d\u0a8f-\u0a91\u0a93-\u0aa8\u0aaa-\u0ab0\u0ab2-\u0ab3\u0ab5-\u0ab9\u0abd\u0ad0\u0ae0-\u0ae1\u0af9\u0b05-\u0b0c\u0b0f-\u0b10\u0b13-\u0b28\u0b2a-\u0b30\u0b32-\u0b33\u0b35-\u0b39\u0b3d\u0b5c-\u0b5d\u0b5f-\u0b61\u0b71\u0b83\u0b85-\u0b8a\u0b8e-\u0b90\u0b92-\u0b95\u0b99-\u0b9a\u0b9c\u0b9e-\u0b9f\u0ba3-\u0ba4\u0ba8-\u0baa\u0bae-\u0bb9\u0bd0\u0c05-\u0c0c\u0c0e-\u0c10\u0c12-\u0c28\u0c2a-\u0c39\u0c3d\u0c58-\u0c5a\u0c5c-\u0c5d\u0c60-\u0c61\u0c80\u0c85-\u0c8c\u0c8e-\u0c90\u0c92-\u0ca8\u0caa-\u0cb3\u0cb5-\u0cb9\u0cbd\u0cdc-\u0cde\u0ce0-\u0ce1\u0cf1-\u0cf2\u0d04-\u0d0c\u0d0e-\u0d10\u0d12-\u0d3a\u0d3d\u0d4e\u0d54-\u0d56\u0d5f-\u0d61\u0d7a-\u0d7f\u0d85-\u0d96\u0d9a-\u0db1\u0db3-\u0dbb\u0dbd\u0dc0-\u0dc6\u0e01-\u0e30\u0e32-\u0e33\u0e40-\u0e46\u0e81-\u0e82\u0e84\u0e86-\u0e8a\u0e8c-\u0ea3\u0ea5\u0ea7-\u0eb0\u0eb2-\u0eb3\u0ebd\u0ec0-\u0ec4\u0ec6\u0edc-\u0edf\u0f00\u0f40-\u0f47\u0f49-\u0f6c\u0f88-\u0f8c\u1000-\u102a\u103f\u1050-\u1055\u105a-\u105d\u1061\u1065-\u1066\u106e-\u1070\u1075-\u1081\u108e\u10a0-\u10c5\u10c7\u10cd\u10d0-\u10fa\u10fc-\u1248\u124a-\u124d\u1250-\u1256\u1258\u125a-\u125d\u1260-\u1288\u128a-\u128d\u1290-\u12b0\u12b2-\u12b5\u12b8-\u12be\u12c0\u12c2-\u12c5\u12c8-\u12d6\u12d8-\u1310\u1312-\u1315\u1318-\u135a\u1380-\u138f\u13a0-\u13f5\u13f8-\u13fd\u1401-\u166c\u166f-\u167f\u1681-\u169a\u16a0-\u16ea\u16f1-\u16f8\u1700-\u1711\u171f-\u1731\u1740-\u1751\u1760-\u176c\u176e-\u1770\u1780-\u17b3\u17d7\u17dc\u1820-\u1878\u1880-\u1884\u1887-\u18a8\u18aa\u18b0-\u18f5\u1900-\u191e\u1950-\u196d\u1970-\u1974\u1980-\u19ab\u19b0-\u19c9\u1a00-\u1a16\u1a20-\u1a54\u1aa7\u1b05-\u1b33\u1b45-\u1b4c\u1b83-\u1ba0\u1bae-\u1baf\u1bba-\u1be5\u1c00-\u1c23\u1c4d-\u1c4f\u1c5a-\u1c7d\u1c80-\u1c8a\u1c90-\u1cba\u1cbd-\u1cbf\u1ce9-\u1cec\u1cee-\u1cf3\u1cf5-\u1cf6\u1cfa\u1d00-\u1dbf\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2071\u207f\u208f-\u209f\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183-\u2184\u2c00-\u2ce4\u2ceb-\u2cee\u2cf2-\u2cf3\u2d00-\u2d25\u2d27\u2d2d\u2d30-\u2d67\u2d6f\u2d80-\u2d96\u2da0-\u2da6\u2da8-\u2dae\u2db0-\u2db6\u2db8-\u2dbe\u2dc0-\u2dc6\u2dc8-\u2dce\u2dd0-\u2dd6\u2dd8-\u2dde\u2e2f\u3005-\u3006\u3031-\u3035\u303b-\u303c\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3105-\u312f\u3131-\u318e\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\ua48c\ua4d0-\ua4fd\ua500-\ua60c\ua610-\ua61f\ua62a-\ua62b\ua640-\ua66e\ua67f-\ua69d\ua6a0-\ua6e5\ua717-\ua71f\ua722-\ua788\ua78b-\ua7dd\ua7e2\ua7f1-\ua801\ua803-\ua805\ua807-\ua80a\ua80c-\ua822\ua840-\ua873\ua882-\ua8b3\ua8f2-\ua8f7\ua8fb\ua8fd-\ua8fe\ua90a-\ua925\ua930-\ua946\ua960-\ua97c\ua984-\ua9b2\ua9cf\ua9e0-\ua9e4\ua9e6-\ua9ef\ua9fa-\ua9fe\uaa00-\uaa28\uaa40-\uaa42\uaa44-\uaa4b\uaa60-\uaa76\uaa7a\uaa7e-\uaaaf\uaab1\uaab5-\uaab6\uaab9-\uaabd\uaac0\uaac2\uaadb-\uaadd\uaae0-\uaaea\uaaf2-\uaaf4\uab01-\uab06\uab09-\uab0e\uab11-\uab16\uab20-\uab26\uab28-\uab2e\uab30-\uab5a\uab5c-\uab69\uab6c-\uab6d\uab70-\uabe2\uac00-\ud7a3\ud7b0-\ud7c6\ud7cb-\ud7fb\uf900-\ufa6d\ufa70-\ufad9\ufb00-\ufb06\ufb13-\ufb17\ufb1d\ufb1f-\ufb28\ufb2a-\ufb36\ufb38-\ufb3c\ufb3e\ufb40-\ufb41\ufb43-\ufb44\ufb46-\ufbb1\ufbd3-\ufd3d\ufd50-\ufd8f\ufd92-\ufdc7\ufdf0-\ufdfb\ufe70-\ufe74\ufe76-\ufefc\uff21-\uff3a\uff41-\uff5a\uff66-\uffbe\uffc2-\uffc7\uffca-\uffcf\uffd2-\uffd7\uffda-\uffdc\U00010000-\U0001000b\U0001000d-\U00010026\U00010028-\U0001003a\U0001003c-\U0001003d\U0001003f-\U0001004d\U00010050-\U0001005d\U00010080-\U000100fa\U00010280-\U0001029c\U000102a0-\U000102d0\U00010300-\U0001031f\U0001032d-\U00010340\U00010342-\U00010349\U00010350-\U00010375\U00010380-\U0001039d\U000103a0-\U000103c3\U000103c8-\U000103cf\U00010400-\U0001049d\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010500-\U00010527\U00010530-\U00010563\U00010570-\U0001057a\U0001057c-\U0001058a\U0001058c-\U00010592\U00010594-\U00010595\U00010597-\U000105a1\U000105a3-\U000105b1\U000105b3-\U000105b9\U000105bb-\U000105bc\U000105c0-\U000105f3\U00010600-\U00010736\U00010740-\U00010755\U00010760-\U00010767\U00010780-\U00010785\U00010787-\U000107b0\U000107b2-\U000107bf\U00010800-\U00010805\U00010808\U0001080a-\U00010835\U00010837-\U00010838\U0001083c\U0001083f-\U00010855\U00010860-\U00010876\U00010880-\U0001089e\U000108e0-\U000108f2\U000108f4-\U000108f5\U00010900-\U00010915\U00010920-\U00010939\U00010940-\U00010959\U00010980-\U000109b7\U000109be-\U000109bf\U00010a00\U00010a10-\U00010a13\U00010a15-\U00010a17\U00010a19-\U00010a35\U00010a60-\U00010a7c\U00010a80-\U00010a9c\U00010ac0-\U00010ac7\U00010ac9-\U00010ae4\U00010b00-\U00010b35\U00010b40-\U00010b55\U00010b60-\U00010b72\U00010b80-\U00010b91\U00010c00-\U00010c48\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U00010d00-\U00010d23\U00010d4a-\U00010d65\U00010d6f-\U00010d85\U00010e80-\U00010ea9\U00010eb0-\U00010eb1\U00010ec2-\U00010ec7\U00010ed9-\U00010eee\U00010f00-\U00010f1c\U00010f27\U00010f30-\U00010f45\U00010f70-\U00010f81\U00010fb0-\U00010fc4\U00010fe0-\U00010ff6\U00011003-\U00011037\U00011071-\U00011072\U00011075\U00011083-\U000110af\U000110d0-\U000110e8\U00011103-\U00011126\U00011144\U00011147\U00011150-\U00011172\U00011176\U00011183-\U000111b2\U000111c1-\U000111c4\U000111da\U000111dc\U00011200-\U00011211\U00011213-\U0001122b\U0001123f-\U00011240\U00011280-\U00011286\U00011288\U0001128a-\U0001128d\U0001128f-\U0001129d\U0001129f-\U000112a8\U000112b0-\U000112de\U00011305-\U0001130c\U0001130f-\U00011310\U00011313-\U00011328\U0001132a-\U00011330\U00011332-\U00011333\U00011335-\U00011339\U0001133d\U00011350\U0001135d-\U00011361\U00011380-\U00011389\U0001138b\U0001138e\U00011390-\U000113b5\U000113b7\U000113d1\U000113d3\U00011400-\U00011434\U00011447-\U0001144a\U0001145f-\U00011461\U00011480-\U000114af\U000114c4-\U000114c5\U000114c7\U00011580-\U000115ae\U000115d8-\U000115db\U00011600-\U0001162f\U00011644\U00011680-\U000116aa\U000116b8\U00011700-\U0001171a\U00011740-\U00011746\U00011800-\U0001182b\U000118a0-\U000118df\U000118ff-\U00011906\U00011909\U0001190c-\U00011913\U00011915-\U00011916\U00011918-\U0001192f\U0001193f\U00011941\U000119a0-\U000119a7\U000119aa-\U000119d0\U000119e1\U000119e3\U00011a00\U00011a0b-\U00011a32\U00011a3a\U00011a50\U00011a5c-\U00011a89\U00011a9d\U00011ab0-\U00011af8\U00011b0a\U00011bc0-\U00011be0\U00011c00-\U00011c08\U00011c0a-\U00011c2e\U00011c40\U00011c72-\U00011c8f\U00011d00-\U00011d06\U00011d08-\U00011d09\U00011d0b-\U00011d30\U00011d46\U00011d60-\U00011d65\U00011d67-\U00011d68\U00011d6a-\U00011d89\U00011d98\U00011db0-\U00011ddb\U00011df1\U00011ee0-\U00011ef2\U00011f02\U00011f04-\U00011f10\U00011f12-\U00011f33\U00011fb0\U00012000-\U00012399\U00012480-\U00012543\U00012f90-\U00012ff0\U00013000-\U0001342f\U00013441-\U00013446\U00013460-\U000143fa\U00014400-\U00014646\U00016100-\U0001611d\U00016800-\U00016a38\U00016a40-\U00016a5e\U00016a70-\U00016abe\U00016ad0-\U00016aed\U00016b00-\U00016b2f\U00016b40-\U00016b43\U00016b63-\U00016b77\U00016b7d-\U00016b8f\U00016d40-\U00016d6c\U00016e40-\U00016e7f\U00016ea0-\U00016eb8\U00016ebb-\U00016ed3\U00016f00-\U00016f4a\U00016f50\U00016f93-\U00016f9f\U00016fe0-\U00016fe1\U00016fe3\U00016ff2-\U00016ff3\U00017000-\U00018cda\U00018cff-\U00018d20\U00018d80-\U00018df2\U00018e00-\U00019191\U000191a0-\U000191d2\U0001aff0-\U0001aff3\U0001aff5-\U0001affb\U0001affd-\U0001affe\U0001b000-\U0001b128\U0001b132\U0001b150-\U0001b152\U0001b155\U0001b164-\U0001b168\U0001b170-\U0001b2fb\U0001bc00-\U0001bc6a\U0001bc70-\U0001bc7c\U0001bc80-\U0001bc88\U0001bc90-\U0001bc99\U0001d400-\U0001d454\U0001d456-\U0001d49c\U0001d49e-\U0001d49f\U0001d4a2\U0001d4a5-\U0001d4a6\U0001d4a9-\U0001d4ac\U0001d4ae-\U0001d4b9\U0001d4bb\U0001d4bd-\U0001d4c3\U0001d4c5-\U0001d505\U0001d507-\U0001d50a\U0001d50d-\U0001d514\U0001d516-\U0001d51c\U0001d51e-\U0001d539\U0001d53b-\U0001d53e\U0001d540-\U0001d544\U0001d546\U0001d54a-\U0001d550\U0001d552-\U0001d6a6\U0001d6a8-\U0001d6c0\U0001d6c2-\U0001d6da\U0001d6dc-\U0001d6fa\U0001d6fc-\U0001d714\U0001d716-\U0001d734\U0001d736-\U0001d74e\U0001d750-\U0001d76e\U0001d770-\U0001d788\U0001d78a-\U0001d7a8\U0001d7aa-\U0001d7c2\U0001d7c4-\U0001d7cb\U0001df00-\U0001df81\U0001df90-\U0001df96\U0001dfcd-\U0001dfff\U0001e030-\U0001e06d\U0001e100-\U0001e12c\U0001e137-\U0001e13d\U0001e14e\U0001e290-\U0001e2ad\U0001e2c0-\U0001e2eb\U0001e4d0-\U0001e4eb\U0001e5d0-\U0001e5ed\U0001e5f0\U0001e6c0-\U0001e6de\U0001e6e0-\U0001e6e2\U0001e6e4-\U0001e6e5\U0001e6e7-\U0001e6ed\U0001e6f0-\U0001e6f4\U0001e6fe-\U0001e6ff\U0001e7e0-\U0001e7e6\U0001e7e8-\U0001e7eb\U0001e7ed-\U0001e7ee\U0001e7f0-\U0001e7fe\U0001e800-\U0001e8c4\U0001e900-\U0001e943\U0001e94b\U0001ee00-\U0001ee03\U0001ee05-\U0001ee1f\U0001ee21-\U0001ee22\U0001ee24\U0001ee27\U0001ee29-\U0001ee32\U0001ee34-\U0001ee37\U0001ee39\U0001ee3b\U0001ee42\U0001ee47\U0001ee49\U0001ee4b\U0001ee4d-\U0001ee4f\U0001ee51-\U0001ee52\U0001ee54\U0001ee57\U0001ee59\U0001ee5b\U0001ee5d\U0001ee5f\U0001ee61-\U0001ee62\U0001ee64\U0001ee67-\U0001ee6a\U0001ee6c-\U0001ee72\U0001ee74-\U0001ee77\U0001ee79-\U0001ee7c\U0001ee7e\U0001ee80-\U0001ee89\U0001ee8b-\U0001ee9b\U0001eea1-\U0001eea3\U0001eea5-\U0001eea9\U0001eeab-\U0001eebb\U00020000-\U0002a6df\U0002a700-\U0002b81e\U0002b820-\U0002cead\U0002ceb0-\U0002ebe0\U0002ebf0-\U0002ee5d\U0002f800-\U0002fa1d\U00030000-\U0003134a\U00031350-\U00033479\U0003d000-\U0003fc3f\u0030-\u0039\u00b2-\u00b3\u00b9\u00bc-\u00be\u0660-\u0669\u06f0-\u06f9\u07c0-\u07c9\u0966-\u096f\u09e6-\u09ef\u09f4-\u09f9\u0a66-\u0a6f\u0ae6-\u0aef\u0b66-\u0b6f\u0b72-\u0b77\u0be6-\u0bf2\u0c66-\u0c6f\u0c78-\u0c7e\u0ce6-\u0cef\u0d58-\u0d5e\u0d66-\u0d78\u0de6-\u0def\u0e50-\u0e59\u0ed0-\u0ed9\u0f20-\u0f33\u1040-\u1049\u1090-\u1099\u1369-\u137c\u16ee-\u16f0\u17e0-\u17e9\u17f0-\u17f9\u1810-\u1819\u1946-\u194f\u19d0-\u19da\u1a80-\u1a89\u1a90-\u1a99\u1b50-\u1b59\u1bb0-\u1bb9\u1c40-\u1c49\u1c50-\u1c59\u2070\u2074-\u2079\u2080-\u2089\u2150-\u2182\u2185-\u2189\u2460-\u249b\u24ea-\u24ff\u2776-\u2793\u2cfd\u3007\u3021-\u3029\u3038-\u303a\u3192-\u3195\u3220-\u3229\u3248-\u324f\u3251-\u325f\u3280-\u3289\u32b1-\u32bf\ua620-\ua629\ua6e6-\ua6ef\ua830-\ua835\ua8d0-\ua8d9\ua900-\ua909\ua9d0-\ua9d9\ua9f0-\ua9f9\uaa50-\uaa59\uabf0-\uabf9\uff10-\uff19\U00010107-\U00010133\U00010140-\U00010178\U0001018a-\U0001018b\U000102e1-\U000102fb\U00010320-\U00010323\U00010341\U0001034a\U000103d1-\U000103d5\U000104a0-\U000104a9\U00010858-\U0001085f\U00010879-\U0001087f\U000108a7-\U000108af\U000108fb-\U000108ff\U00010916-\U0001091b\U000109bc-\U000109bd\U000109c0-\U000109cf\U000109d2-\U000109ff\U00010a40-\U00010a48\U00010a7d-\U00010a7e\U00010a9d-\U00010a9f\U00010aeb-\U00010aef\U00010b58-\U00010b5f\U00010b78-\U00010b7f\U00010ba9-\U00010baf\U00010cfa-\U00010cff\U00010d30-\U00010d39\U00010d40-\U00010d49\U00010e60-\U00010e7e\U00010f1d-\U00010f26\U00010f51-\U00010f54\U00010fc5-\U00010fcb\U00011052-\U0001106f\U000110f0-\U000110f9\U00011136-\U0001113f\U000111d0-\U000111d9\U000111e1-\U000111f4\U000112f0-\U000112f9\U00011450-\U00011459\U000114d0-\U000114d9\U00011650-\U00011659\U000116c0-\U000116c9\U000116d0-\U000116e3\U00011730-\U0001173b\U000118e0-\U000118f2\U00011950-\U00011959\U00011bf0-\U00011bf9\U00011c50-\U00011c6c\U00011d50-\U00011d59\U00011da0-\U00011da9\U00011de0-\U00011de9\U00011f50-\U00011f59\U00011fc0-\U00011fd4\U00012400-\U0001246f\U00012475-\U0001247f\U00012550-\U00012686\U00016130-\U00016139\U00016a60-\U00016a69\U00016ac0-\U00016ac9\U00016b50-\U00016b59\U00016b5b-\U00016b61\U00016d70-\U00016d79\U00016e80-\U00016e96\U00016ff4-\U00016ff6\U0001ccf0-\U0001ccf9\U0001d2c0-\U0001d2d3\U0001d2e0-\U0001d2f3\U0001d360-\U0001d378\U0001d7ce-\U0001d7ff\U0001e140-\U0001e149\U0001e2f0-\U0001e2f9\U0001e4f0-\U0001e4f9\U0001e5f1-\U0001e5fa\U0001e8c7-\U0001e8cf\U0001e950-\U0001e959\U0001ec71-\U0001ecab\U0001ecad-\U0001ecaf\U0001ecb1-\U0001ecb4\U0001ed01-\U0001ed2d\U0001ed2f-\U0001ed3d\U0001f100-\U0001f10c\U0001fbf0-\U0001fbf9]+|[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]+(?![^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000])|[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000]', 'g') WITH ORDINALITY AS u(m, i);
-- byte pair encoding: in each pre-token, merge the lowest-ranked pair of adjacent parts, again and again (a mask marks where parts start)
CREATE TEMP TABLE prompt_tokens AS
WITH RECURSIVE
  bpe(piece, h, mask, b) AS (
    SELECT p.piece, p.hex, p.mask, (SELECT q.b FROM (SELECT n.i, n.i + strpos(substr(p.mask, n.i + 1), '1') AS b FROM nums n WHERE n.i < length(p.mask) AND substr(p.mask, n.i, 1) = '1' AND strpos(substr(p.mask, n.i + 1), '1') > 0) q JOIN vocab v ON v.hex = substr(p.hex, 2 * q.i - 1, 2 * (CASE WHEN strpos(substr(p.mask, q.b + 1), '1') = 0 THEN length(p.mask) + 1 ELSE q.b + strpos(substr(p.mask, q.b + 1), '1') END - q.i)) WHERE v.merge_rank IS NOT NULL ORDER BY v.merge_rank, q.i LIMIT 1)
    FROM (SELECT piece, hex, repeat('1', (length(hex)) / 2) AS mask FROM pieces) p
    UNION ALL
    SELECT r.piece, r.h, substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1), (SELECT q.b FROM (SELECT n.i, n.i + strpos(substr((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)), n.i + 1), '1') AS b FROM nums n WHERE n.i < length((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1))) AND substr((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)), n.i, 1) = '1' AND strpos(substr((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)), n.i + 1), '1') > 0) q JOIN vocab v ON v.hex = substr(r.h, 2 * q.i - 1, 2 * (CASE WHEN strpos(substr((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)), q.b + 1), '1') = 0 THEN length((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1))) + 1 ELSE q.b + strpos(substr((substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)), q.b + 1), '1') END - q.i)) WHERE v.merge_rank IS NOT NULL ORDER BY v.merge_rank, q.i LIMIT 1) FROM bpe r WHERE r.b IS NOT NULL),
  done AS (SELECT piece, h, mask FROM bpe WHERE b IS NULL)
SELECT CAST(row_number() OVER (ORDER BY d.piece, n.i) - 1 AS INTEGER) AS pos, v.id AS token
FROM done d JOIN nums n ON n.i <= length(d.mask) AND substr(d.mask, n.i, 1) = '1'
JOIN vocab v ON v.hex = substr(d.h, 2 * n.i - 1, 2 * (CASE WHEN strpos(substr(d.mask, n.i + 1), '1') = 0 THEN length(d.mask) + 1 ELSE n.i + strpos(substr(d.mask, n.i + 1), '1') END - n.i));

-- ===== the session: its tokens and KV cache =====
-- the tokens so far
CREATE TEMP TABLE tokens (pos INTEGER, token INTEGER);
-- the residual stream entering layer 0
CREATE TEMP TABLE x0 (pos INTEGER, x vector); ALTER TABLE x0 ALTER COLUMN x SET STORAGE PLAIN;
-- the residual stream entering layer 1
CREATE TEMP TABLE x1 (pos INTEGER, x vector); ALTER TABLE x1 ALTER COLUMN x SET STORAGE PLAIN;
-- the residual stream after the last layer
CREATE TEMP TABLE x2 (pos INTEGER, x vector); ALTER TABLE x2 ALTER COLUMN x SET STORAGE PLAIN;
-- the final norm's output
CREATE TEMP TABLE final (pos INTEGER, xn vector); ALTER TABLE final ALTER COLUMN xn SET STORAGE PLAIN;
-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache0 (kind INTEGER, hd INTEGER, pos INTEGER, vec vector); ALTER TABLE cache0 ALTER COLUMN vec SET STORAGE PLAIN;
-- layer 0 values, transposed: one row per channel, a vector over positions
CREATE TEMP TABLE vt0 AS
SELECT c, CAST(ARRAY[] AS real[]) AS vals FROM generate_series(0, 31) AS r(c);
-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache1 (kind INTEGER, hd INTEGER, pos INTEGER, vec vector); ALTER TABLE cache1 ALTER COLUMN vec SET STORAGE PLAIN;
-- layer 1 values, transposed: one row per channel, a vector over positions
CREATE TEMP TABLE vt1 AS
SELECT c, CAST(ARRAY[] AS real[]) AS vals FROM generate_series(0, 31) AS r(c);
-- the prompt's tokens
INSERT INTO tokens SELECT pos, token FROM prompt_tokens;
-- an empty prompt is <|endoftext|>
INSERT INTO tokens SELECT 0, 264 WHERE NOT EXISTS (SELECT 1 FROM tokens);
-- where the next step starts: the first position not yet in the residual stream
CREATE TEMP TABLE step_start (pos INTEGER);
INSERT INTO step_start VALUES (0);
-- the tokens picked, one per step
CREATE TEMP TABLE picked (k INTEGER, token INTEGER);
-- NumPy's uniform draws for seed 1234, one per token, as integers times 2**-53
CREATE TEMP TABLE draws (k INTEGER, m BIGINT);
INSERT INTO draws VALUES
(0, 8797329410709207),
(1, 3424498741124405),
(2, 8315862788701127),
(3, 2357115805195079),
(4, 2874170786738403);

-- ===== each token's work, defined once: the forward step from position (SELECT pos FROM step_start), then the pick =====
-- step_01: token embedding + position embedding: the residual stream x0
PREPARE step_01 AS
INSERT INTO x0 SELECT t.pos, (SELECT CAST(array_agg(CAST(u.a0 + u.a1 AS real) ORDER BY u.i) AS vector) FROM unnest(CAST(e.w AS real[]), CAST(p.w AS real[])) WITH ORDINALITY AS u(a0, a1, i)) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= (SELECT pos FROM step_start);
-- step_02: layer 0: norm 1 and the QKV projection; cache each head's query, key and value
PREPARE step_02 AS
INSERT INTO cache0
WITH
  n AS MATERIALIZED (SELECT pos, x, (SELECT avg(v) FROM unnest(CAST(x AS real[])) AS v) AS mu, 1.0 / sqrt((SELECT var_pop(v) FROM unnest(CAST(x AS real[])) AS v) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= (SELECT pos FROM step_start)) s),
  units AS MATERIALIZED (SELECT n.pos, m.j, n.r * (inner_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_qkv m, n n)
SELECT (slot) / 4 AS kind, mod(slot, 4) AS hd, pos, vec FROM (SELECT u.pos, (u.j) / 8 AS slot, CAST(array_agg(CAST(CAST(u.y AS real) AS real) ORDER BY u.j) AS vector) AS vec FROM units u GROUP BY u.pos, (u.j) / 8) g;
-- step_03: layer 0: append the new values to each channel's row
PREPARE step_03 AS
UPDATE vt0 SET vals = vt0.vals || n.vals FROM (SELECT r.c, array_agg((CAST(k.vec AS real[]))[mod(r.c, 8) + 1] ORDER BY k.pos) AS vals FROM vt0 r JOIN (SELECT * FROM cache0 WHERE kind = 2 AND pos >= (SELECT pos FROM step_start)) k ON k.hd = r.c / 8 GROUP BY r.c) n WHERE n.c = vt0.c;
-- step_04: layer 0: causal self-attention, projection + residual, then the MLP + residual
PREPARE step_04 AS
INSERT INTO x1
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS MATERIALIZED (SELECT q.pos, q.hd, k.pos AS kpos, inner_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= (SELECT pos FROM step_start)),
  peaks AS MATERIALIZED (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS MATERIALIZED (SELECT pos, hd, CAST(array_agg(CAST(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS real) AS real) ORDER BY kpos) AS vector) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS MATERIALIZED (SELECT p.pos, CAST(array_agg(CAST(CAST(inner_product(p.e, CAST(vt.vals AS vector)) / p.z AS real) AS real) ORDER BY vt.c) AS vector) AS y
           FROM vt0 vt JOIN weights p ON p.hd = (vt.c) / 8 GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS MATERIALIZED (SELECT a.pos, (CAST(array_agg(CAST(a.v AS real) ORDER BY a.j) AS vector) + any_value(x.x)) AS x FROM (SELECT a.pos, m.j, inner_product(m.w, a.y) + m.b AS v FROM m_<schema>.h0_attn_proj m, attn a OFFSET 0) a JOIN x0 x ON x.pos = a.pos GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS MATERIALIZED (SELECT pos, x, (SELECT avg(v) FROM unnest(CAST(x AS real[])) AS v) AS mu, 1.0 / sqrt((SELECT var_pop(v) FROM unnest(CAST(x AS real[])) AS v) + 1e-05) AS r FROM resid s),
  pre AS MATERIALIZED (SELECT n.pos, m.j, n.r * (inner_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_fc m, n2 n),
  fc AS MATERIALIZED (SELECT u.pos, CAST(array_agg(CAST(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS real) AS real) ORDER BY u.j) AS vector) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, (CAST(array_agg(CAST(a.v AS real) ORDER BY a.j) AS vector) + any_value(x.x)) AS x FROM (SELECT a.pos, m.j, inner_product(m.w, a.y) + m.b AS v FROM m_<schema>.h0_mlp_proj m, fc a OFFSET 0) a JOIN resid x ON x.pos = a.pos GROUP BY a.pos;
-- step_05: layer 1: norm 1 and the QKV projection; cache each head's query, key and value
PREPARE step_05 AS
INSERT INTO cache1
WITH
  n AS MATERIALIZED (SELECT pos, x, (SELECT avg(v) FROM unnest(CAST(x AS real[])) AS v) AS mu, 1.0 / sqrt((SELECT var_pop(v) FROM unnest(CAST(x AS real[])) AS v) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= (SELECT pos FROM step_start)) s),
  units AS MATERIALIZED (SELECT n.pos, m.j, n.r * (inner_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_qkv m, n n)
SELECT (slot) / 4 AS kind, mod(slot, 4) AS hd, pos, vec FROM (SELECT u.pos, (u.j) / 8 AS slot, CAST(array_agg(CAST(CAST(u.y AS real) AS real) ORDER BY u.j) AS vector) AS vec FROM units u GROUP BY u.pos, (u.j) / 8) g;
-- step_06: layer 1: append the new values to each channel's row
PREPARE step_06 AS
UPDATE vt1 SET vals = vt1.vals || n.vals FROM (SELECT r.c, array_agg((CAST(k.vec AS real[]))[mod(r.c, 8) + 1] ORDER BY k.pos) AS vals FROM vt1 r JOIN (SELECT * FROM cache1 WHERE kind = 2 AND pos >= (SELECT pos FROM step_start)) k ON k.hd = r.c / 8 GROUP BY r.c) n WHERE n.c = vt1.c;
-- step_07: layer 1: causal self-attention, projection + residual, then the MLP + residual
PREPARE step_07 AS
INSERT INTO x2
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS MATERIALIZED (SELECT q.pos, q.hd, k.pos AS kpos, inner_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= (SELECT pos FROM step_start)),
  peaks AS MATERIALIZED (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS MATERIALIZED (SELECT pos, hd, CAST(array_agg(CAST(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS real) AS real) ORDER BY kpos) AS vector) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS MATERIALIZED (SELECT p.pos, CAST(array_agg(CAST(CAST(inner_product(p.e, CAST(vt.vals AS vector)) / p.z AS real) AS real) ORDER BY vt.c) AS vector) AS y
           FROM vt1 vt JOIN weights p ON p.hd = (vt.c) / 8 GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS MATERIALIZED (SELECT a.pos, (CAST(array_agg(CAST(a.v AS real) ORDER BY a.j) AS vector) + any_value(x.x)) AS x FROM (SELECT a.pos, m.j, inner_product(m.w, a.y) + m.b AS v FROM m_<schema>.h1_attn_proj m, attn a OFFSET 0) a JOIN x1 x ON x.pos = a.pos GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS MATERIALIZED (SELECT pos, x, (SELECT avg(v) FROM unnest(CAST(x AS real[])) AS v) AS mu, 1.0 / sqrt((SELECT var_pop(v) FROM unnest(CAST(x AS real[])) AS v) + 1e-05) AS r FROM resid s),
  pre AS MATERIALIZED (SELECT n.pos, m.j, n.r * (inner_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_fc m, n2 n),
  fc AS MATERIALIZED (SELECT u.pos, CAST(array_agg(CAST(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS real) AS real) ORDER BY u.j) AS vector) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, (CAST(array_agg(CAST(a.v AS real) ORDER BY a.j) AS vector) + any_value(x.x)) AS x FROM (SELECT a.pos, m.j, inner_product(m.w, a.y) + m.b AS v FROM m_<schema>.h1_mlp_proj m, fc a OFFSET 0) a JOIN resid x ON x.pos = a.pos GROUP BY a.pos;
-- step_08: final norm
PREPARE step_08 AS
INSERT INTO final
WITH
  n AS MATERIALIZED (SELECT pos, x, (SELECT avg(v) FROM unnest(CAST(x AS real[])) AS v) AS mu, 1.0 / sqrt((SELECT var_pop(v) FROM unnest(CAST(x AS real[])) AS v) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= (SELECT pos FROM step_start)) s)
SELECT s.pos, (SELECT CAST(array_agg(CAST(u.a0 * s.r * u.a1 + u.a2 AS real) ORDER BY u.i) AS vector) FROM unnest(CAST(s.xc AS real[]), CAST(f.g AS real[]), CAST(f.b AS real[])) WITH ORDINALITY AS u(a0, a1, a2, i)) AS xn FROM (SELECT pos, (SELECT CAST(array_agg(CAST(u.a0 - mu AS real) ORDER BY u.i) AS vector) FROM unnest(CAST(x AS real[])) WITH ORDINALITY AS u(a0, i)) AS xc, r FROM n) s, m_<schema>.ln_f f;
-- pick: the next token, sampled at temperature 0.8 as sqlgpt's sampler: softmax, cumulative sum, and the first token whose sum passes the step's draw times the total
PREPARE pick AS
INSERT INTO picked
WITH
  l AS MATERIALIZED (SELECT j, CAST(CAST(logit AS real) AS double precision) / (CAST(3602879701896397 AS double precision) / CAST(4503599627370496 AS double precision)) AS z FROM (SELECT f.pos, e.j, inner_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos = (SELECT max(pos) FROM tokens)) a WHERE j < 265),
  p AS MATERIALIZED (SELECT j, exp(z - m) / sum(exp(z - m)) OVER () AS p FROM (SELECT *, max(z) OVER () AS m FROM l) peaks),
  q AS MATERIALIZED (SELECT j, p / (SELECT sum(p) FROM p) AS q FROM p),
  cum AS MATERIALIZED (SELECT j, sum(q) OVER (ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM q),
  x AS (SELECT CAST(m AS double precision) / CAST(9007199254740992 AS double precision) * (SELECT c FROM cum WHERE j = 264) AS x
        FROM draws WHERE k = (SELECT count(*) FROM picked))
SELECT (SELECT count(*) FROM picked), coalesce((SELECT min(cum.j) FROM cum, x WHERE cum.c > x.x), 264)
WHERE TRUE AND NOT EXISTS (SELECT 1 FROM picked WHERE token = 264);

-- ===== token 1 of 5 =====
UPDATE step_start SET pos = (SELECT count(*) FROM x0);
EXECUTE step_01;
EXECUTE step_02;
EXECUTE step_03;
EXECUTE step_04;
EXECUTE step_05;
EXECUTE step_06;
EXECUTE step_07;
EXECUTE step_08;
EXECUTE pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 2 of 5 =====
UPDATE step_start SET pos = (SELECT count(*) FROM x0);
EXECUTE step_01;
EXECUTE step_02;
EXECUTE step_03;
EXECUTE step_04;
EXECUTE step_05;
EXECUTE step_06;
EXECUTE step_07;
EXECUTE step_08;
EXECUTE pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 3 of 5 =====
UPDATE step_start SET pos = (SELECT count(*) FROM x0);
EXECUTE step_01;
EXECUTE step_02;
EXECUTE step_03;
EXECUTE step_04;
EXECUTE step_05;
EXECUTE step_06;
EXECUTE step_07;
EXECUTE step_08;
EXECUTE pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 4 of 5 =====
UPDATE step_start SET pos = (SELECT count(*) FROM x0);
EXECUTE step_01;
EXECUTE step_02;
EXECUTE step_03;
EXECUTE step_04;
EXECUTE step_05;
EXECUTE step_06;
EXECUTE step_07;
EXECUTE step_08;
EXECUTE pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== token 5 of 5 =====
UPDATE step_start SET pos = (SELECT count(*) FROM x0);
EXECUTE step_01;
EXECUTE step_02;
EXECUTE step_03;
EXECUTE step_04;
EXECUTE step_05;
EXECUTE step_06;
EXECUTE step_07;
EXECUTE step_08;
EXECUTE pick;
INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked WHERE k = (SELECT count(*) - 1 FROM picked) AND token <> 264;

-- ===== the generated text =====
\pset format unaligned
\pset tuples_only on
-- the generated text: the tokens' bytes, decoded from UTF-8 (U+FFFD for invalid bytes)
WITH RECURSIVE
  bytes AS (SELECT row_number() OVER (ORDER BY g.k, n.i) AS o, (strpos('0123456789abcdef', substr(v.hex, 2 * n.i - 1, 1)) - 1) * 16 + (strpos('0123456789abcdef', substr(v.hex, 2 * n.i - 0, 1)) - 1) AS b
            FROM picked g JOIN vocab v ON v.id = g.token JOIN nums n ON n.i <= (length(v.hex)) / 2 WHERE g.token <> 264),
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
                   CASE WHEN need = 0 AND b0 > 0 THEN chr(CAST(b0 AS INTEGER)) WHEN need > 0 AND ok >= need THEN chr(CAST(CASE need WHEN 1 THEN (b0 - 192) * 64 + b1 - 128 WHEN 2 THEN (b0 - 224) * 4096 + (b1 - 128) * 64 + b2 - 128 ELSE (b0 - 240) * 262144 + (b1 - 128) * 4096 + (b2 - 128) * 64 + b3 - 128 END AS INTEGER))
                        ELSE chr(CAST(65533 AS INTEGER)) END AS piece FROM seq),
  walk(o, txt) AS (SELECT 1, CAST('' AS text)
                   UNION ALL SELECT w.o + c.width, w.txt || c.piece FROM walk w JOIN chars c ON c.o = w.o)
SELECT txt FROM walk ORDER BY o DESC LIMIT 1;
