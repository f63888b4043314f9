"""Every string the app shows, in Chinese (default) and English.

``t(lang, key, **values)`` looks a string up and fills ``{placeholders}``.
Keys missing in one language fall back to English, then to the key itself,
so a forgotten translation shows up as readable text rather than a crash.
"""

from __future__ import annotations

import re

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "Lychee 图像重排序", "en": "Lychee image reranker"},
    "subtitle": {
        "zh": "用一句话给一堆图片排序：全部在本机运行，图片不会离开这台电脑。",
        "en": "Rank a pile of images against one sentence, locally: your images never leave this machine.",
    },
    # query
    "query_label": {"zh": "查询（中文、英文或混合）", "en": "Query (Chinese, English or mixed)"},
    "reference_label": {"zh": "参考图（可选：找出与它相似的）", "en": "Reference image (optional: find ones like it)"},
    "reference_help": {
        "zh": "只上传参考图：按与它的相似度排序；同时填写查询文本：按“像这张，但……”排序。",
        "en": "A reference image alone ranks by likeness to it; with a query text too, by \"like this one, but…\".",
    },
    "query_source_label": {"zh": "按什么打分", "en": "Score against"},
    "query_source_typed": {"zh": "输入的查询", "en": "The typed query"},
    "query_source_own": {"zh": "每张图自己的提示词", "en": "Each image's own prompt"},
    "query_source_mix": {"zh": "自己的提示词 + 输入的文字", "en": "Its own prompt + the typed text"},
    "query_source_help": {
        "zh": "这些图片带有生成参数（AUTOMATIC1111、ComfyUI、InvokeAI）：可按每张图是否忠实于自己的提示词排序。"
              "没有提示词的图片按输入的查询打分；若未输入查询则不打分并提示。“+ 输入的文字”：提示词后接“，and also: 输入的文字”。",
        "en": "These images carry their generation settings (AUTOMATIC1111, ComfyUI, InvokeAI): rank by how "
              "faithfully each follows its own prompt. Images without a prompt are scored against the typed query, "
              "or left unscored with a warning when none is typed. \"+ the typed text\": the prompt, then "
              "\", and also: \" and the typed text.",
    },
    "doc_kind_label": {"zh": "排序对象", "en": "Rank"},
    "doc_kind_images": {"zh": "图片", "en": "Images"},
    "doc_kind_texts": {"zh": "文本", "en": "Texts"},
    "texts_label": {"zh": "候选文本（每行一条）", "en": "Candidate texts (one per line)"},
    "texts_placeholder": {"zh": "红色真丝连衣裙 夏季新款\n蓝色牛仔外套", "en": "Red silk summer dress\nBlue denim jacket"},
    "query_header": {"zh": "查询：", "en": "Query:"},
    "query_placeholder": {"zh": "例如：红色连衣裙 on a beach", "en": "e.g. a red dress on a beach"},
    "preset_label": {"zh": "指令预设（可选）", "en": "Instruction preset (optional)"},
    "preset_default": {"zh": "通用检索", "en": "General search"},
    "preset_product": {"zh": "电商主图", "en": "E-commerce main image"},
    "preset_design": {"zh": "设计参考", "en": "Design references"},
    "preset_generated": {"zh": "AI 生成图筛选", "en": "Filter AI-generated images"},
    "instruction_label": {"zh": "自定义指令（可选，填写后替代预设）", "en": "Custom instruction (optional, replaces the preset)"},
    "instruction_placeholder": {"zh": "例如：Given a product title, retrieve its main product photo.", "en": "e.g. Given a product title, retrieve its main product photo."},
    "instruction_help": {
        "zh": "模型看到的 <Instruct> 文本。更换指令会改变分数的绝对值；导出的 CSV/JSON 会记录所用指令。",
        "en": "The <Instruct> text the model sees. Changing it changes absolute scores; the CSV/JSON exports record it.",
    },
    # images
    "uploads_label": {
        "zh": "上传图片或 zip 压缩包（可多选）",
        "en": "Upload images or zip files (several at once)",
    },
    "folder_label": {"zh": "本地文件夹路径（与上传的图片一起排序；直接读取，不上传）", "en": "Local folder path (ranked together with any uploads; read in place, not uploaded)"},
    "folder_missing": {"zh": "找不到文件夹：{path}", "en": "No such folder: {path}"},
    "folder_is_file": {"zh": "这是一个文件，不是文件夹：{path}", "en": "This is a file, not a folder: {path}"},
    "folder_placeholder": {"zh": "/home/me/Pictures/shoot", "en": "/home/me/Pictures/shoot"},
    "folder_hidden": {
        "zh": "本地文件夹读取已关闭：服务器正在监听 {address}，而不是 localhost。为保护本机文件，只有在本机访问时才允许读取文件夹；请改用上传。",
        "en": "Local folders are off: the server listens on {address}, not localhost. To protect this machine's files, "
        "folders can only be read when the app is local; upload the images instead.",
    },
    "n_uploaded": {"zh": "已选择 {n} 个文件", "en": "{n} file(s) selected"},
    "reuse_uploads": {"zh": "使用上次上传的 {n} 张图片（刷新页面后仍保留，可换个查询重新排序）", "en": "Use the {n} images uploaded for the last run (kept across a reload: refine the query and run again)"},
    "uploader_limit": {"zh": "每个文件不超过 {mb} MB", "en": "Up to {mb} MB per file"},
    "uploader_browse": {"zh": "上传", "en": "Upload"},
    "intake_note": {"zh": "读取提示：{note}", "en": "Reading note: {note}"},
    # run
    "run": {"zh": "开始重排序", "en": "Start reranking"},
    "stop": {"zh": "停止", "en": "Stop"},
    "reason_no_query": {"zh": "请先输入查询文本或上传参考图。", "en": "Type a query or add a reference image first."},
    "reason_no_texts": {"zh": "请粘贴候选文本（每行一条）。", "en": "Paste the candidate texts (one per line)."},
    "reason_no_images": {"zh": "请上传图片或填写本地文件夹。", "en": "Upload images or give a local folder."},
    "reason_running": {"zh": "正在重排序，请等待完成或点击停止。", "en": "A run is in progress: wait for it or press Stop."},
    "reason_no_model": {"zh": "模型尚未加载成功，请先修正侧边栏中的模型设置。", "en": "The model is not loaded: fix the model setting in the sidebar first."},
    # progress
    # {unit}, {noun} and {one} name what is ranked: 张/图片/image or 条/文本/text (see doc_words)
    "progress": {"zh": "已处理 {done}/{total} {unit}", "en": "{done} of {total} processed"},
    "status_latest": {"zh": "最新：{name} → {score}", "en": "Latest: {name} → {score}"},
    "status_warning": {"zh": "最新一张的警告：{warning}", "en": "Latest image's warning: {warning}"},
    "status_speed": {"zh": "{rate:.2f} {unit}/秒 · 预计还需 {eta}", "en": "{rate:.2f} {noun}/s · about {eta} left"},
    "state_scoring": {
        "zh": "正在为第一{unit}{noun}打分…（第一{unit}最慢：模型在预热）",
        "en": "Scoring the first {one}… (the first one is the slowest while the model warms up)",
    },
    "state_preparing": {"zh": "正在读取{noun}…", "en": "Reading the {noun}…"},
    "state_queued": {
        "zh": "排队中：另一个标签页正在使用模型，轮到本次时会自动开始。",
        "en": "Queued: another tab is using the model; this run starts automatically when it is done.",
    },
    "state_stopping": {"zh": "正在停止…（当前图片打完分后停止）", "en": "Stopping… (after the current image)"},
    "done": {"zh": "完成：{n} {unit}{noun}已排序，用时 {seconds:.1f} 秒。", "en": "Done: {n} {noun} ranked in {seconds:.1f} s."},
    "done_queued": {"zh": "（另在队列中等待 {seconds:.1f} 秒）", "en": "(plus {seconds:.1f} s waiting in the queue)"},
    "done_cached": {"zh": "完成：{n} {unit}{noun}（使用缓存的分数，未重新打分）。", "en": "Done: {n} {noun} (cached scores reused, nothing rescored)."},
    "stopped": {
        "zh": "已停止：{scored} {unit}已打分并显示如下，{skipped} {unit}未处理。",
        "en": "Stopped: {scored} {noun} scored and shown below, {skipped} not processed.",
    },
    "run_failed": {"zh": "重排序失败：{error}", "en": "The run failed: {error}"},
    "query_note": {"zh": "查询提示：{warning}", "en": "Query note: {warning}"},
    # results
    "results_header": {"zh": "结果", "en": "Results"},
    "threshold_label": {"zh": "分数阈值（只显示不低于此分数的图片）", "en": "Score threshold (show images scoring at least this)"},
    "top_k_label": {"zh": "显示前 K 张", "en": "Show the top K"},
    "top_k_all": {"zh": "全部", "en": "All"},
    "showing": {"zh": "显示 {shown} / {total} {unit}", "en": "Showing {shown} of {total}"},
    "show_more": {"zh": "显示更多", "en": "Show more"},
    "nothing_passes": {"zh": "没有{noun}达到当前阈值。", "en": "No {one} reaches the current threshold."},
    "rank_line": {"zh": "第 {rank} 名 | 分数：{score}", "en": "Rank {rank} | Score: {score}"},
    "warning_badge": {"zh": "⚠ 预处理警告", "en": "⚠ Preprocessing warning"},
    "model_output": {"zh": "模型输出", "en": "Model output"},
    "generation_info": {"zh": "生成信息", "en": "Generation info"},
    "copy_generation": {"zh": "复制", "en": "Copy"},
    "gen_prompt": {"zh": "提示词", "en": "Prompt"},
    "gen_negative": {"zh": "反向提示词", "en": "Negative prompt"},
    "gen_seed": {"zh": "种子", "en": "Seed"},
    "gen_sampler": {"zh": "采样器", "en": "Sampler"},
    "gen_steps": {"zh": "步数", "en": "Steps"},
    "gen_cfg": {"zh": "CFG", "en": "CFG scale"},
    "gen_model": {"zh": "模型", "en": "Model"},
    "gen_size": {"zh": "尺寸", "en": "Size"},
    "gen_generator": {"zh": "生成工具", "en": "Made with"},
    "gen_copy_help": {"zh": "右上角按钮可复制全部生成参数", "en": "The button at the top right copies all the settings"},
    "empty_output": {"zh": "（无输出）", "en": "(no output)"},
    "parse_yesno": {"zh": "是/否判断：分数 = 10 × P(yes)", "en": "Yes/no judgement: score = 10 × P(yes)"},
    "parse_primary": {"zh": "解析方式：主规则匹配（明确的分数格式）", "en": "Parsed by a primary pattern (an explicit score form)"},
    "parse_fallback": {"zh": "解析方式：后备规则（文本中 0-10 之间的第一个数字）", "en": "Parsed by the fallback (the first number between 0 and 10)"},
    "parse_none": {"zh": "未匹配到有效数字，返回默认值 0.0", "en": "No valid number found; default score 0.0"},
    "parse_failed": {"zh": "未打分：图片无法读取或模型出错", "en": "Not scored: the image could not be read or the model failed"},
    "parse_skipped": {"zh": "未打分：运行已停止", "en": "Not scored: the run was stopped"},
    "parse_no_prompt": {"zh": "未打分：图片没有提示词，也没有输入查询", "en": "Not scored: no prompt in the image and no query typed"},
    "probabilities": {"zh": "P(yes) = {p_yes:.4f} ｜ P(no) = {p_no:.4f}", "en": "P(yes) = {p_yes:.4f} | P(no) = {p_no:.4f}"},
    "download_csv": {"zh": "下载 CSV", "en": "Download CSV"},
    "download_json": {"zh": "下载 JSON", "en": "Download JSON"},
    "download_zip": {"zh": "下载前 {k} 张原图（zip）", "en": "Download the top {k} originals (zip)"},
    "group_by_label": {"zh": "分组", "en": "Group by"},
    "group_by_none": {"zh": "不分组", "en": "None"},
    "group_by_subfolder": {"zh": "子文件夹（每个一件商品）", "en": "Subfolder (a product each)"},
    "group_by_prompt": {"zh": "提示词", "en": "Prompt"},
    "group_by_help": {
        "zh": "每组一行：组内最佳的图放大显示，附分数和领先第二名的分差；其余图片折叠在它后面。",
        "en": "One row per group: its best image large, with the score and the margin to the second; the others "
              "folded behind it.",
    },
    "stack_label": {"zh": "折叠近似重复", "en": "Stack near-duplicates"},
    "stack_help": {
        "zh": "近似重复（重新导出、缩放、轻微裁剪的同一张图，感知哈希相差不超过 10/64 位）只显示分数最高的一张，带 +N 标记。",
        "en": "Near-duplicates (the same picture re-exported, resized or lightly cropped: perceptual hashes within "
              "10 of 64 bits) show as their best image with a +N badge.",
    },
    "stack_badge_help": {"zh": "后面折叠了 {n} 张近似重复", "en": "{n} near-duplicate(s) folded behind it"},
    "stack_folded": {"zh": "+{n} 张近似重复", "en": "+{n} near-duplicate(s)"},
    "group_line": {"zh": "{n} 张 · 最高分 {score}", "en": "{n} image(s) · best score {score}"},
    "group_margin": {"zh": "领先第二名 {margin}", "en": "{margin} ahead of the second"},
    "group_alone": {"zh": "组内只有这一张", "en": "the only image in its group"},
    "group_others": {"zh": "本组其余 {n} 张", "en": "{n} more in this group"},
    "group_top_folder": {"zh": "（文件夹顶层）", "en": "(top of the folder)"},
    "group_no_prompt": {"zh": "（无提示词）", "en": "(no prompt)"},
    "group_seed": {"zh": "最佳图的种子", "en": "Seed of the best"},
    "groups_showing": {"zh": "显示 {shown} / {total} 组", "en": "Showing {shown} of {total} groups"},
    "takeout_header": {"zh": "带到其他工具", "en": "Take picks to your other tools"},
    "rating_from_label": {"zh": "星级来自", "en": "Stars from"},
    "rating_from_score": {"zh": "分数", "en": "the score"},
    "rating_from_marks": {"zh": "我的挑选（选中 5 星，拒绝 −1）", "en": "my marks (pick 5, reject −1)"},
    "write_ratings": {"zh": "写入星级（XMP 旁路文件）", "en": "Write ratings (XMP sidecars)"},
    "write_ratings_confirm": {"zh": "将在 {folder} 中写入 {n} 个 .xmp 旁路文件（原图不变；已有的旁路文件会合并，保留您设置的星级）。", "en": "This writes {n} .xmp sidecar(s) in {folder} (originals untouched; existing sidecars are merged, keeping ratings you set)."},
    "write_ratings_yes": {"zh": "确认写入", "en": "Write them"},
    "write_ratings_no": {"zh": "取消", "en": "Cancel"},
    "ratings_written": {"zh": "已写入 {n} 个旁路文件，跳过 {skipped} 个，拒绝 {refused} 个。", "en": "Wrote {n} sidecar(s); {skipped} skipped, {refused} refused."},
    "ratings_nothing": {"zh": "没有可写入的星级（没有挑选或评分）。", "en": "No ratings to write (nothing marked or scored)."},
    "copy_to_label": {"zh": "复制当前显示的图片到文件夹", "en": "Copy the shown images into a folder"},
    "copy_button": {"zh": "复制", "en": "Copy"},
    "copy_main_button": {"zh": "每组只复制主图（以组名命名）", "en": "Copy one main image per group (named after it)"},
    "download_main_images": {"zh": "下载主图表 CSV", "en": "Download the main-image table (CSV)"},
    "copied": {"zh": "已复制 {n} 个文件到 {folder}（清单：{manifest}）。", "en": "Copied {n} file(s) into {folder} (manifest: {manifest})."},
    "skipped_note": {"zh": "{n} {unit}因停止而未打分，未在网格中显示（仍包含在 CSV/JSON 中）。", "en": "{n} {noun} were not scored because the run was stopped; they are left out of the grid (but kept in the CSV/JSON)."},
    # settings
    "settings": {"zh": "设置", "en": "Settings"},
    "language": {"zh": "界面语言", "en": "UI language"},
    "model_label": {"zh": "模型（Hub ID 或本地文件夹）", "en": "Model (hub id or local folder)"},
    "model_help_shared": {
        "zh": "此服务器在网络上共享：可选的模型由运行它的人用 LYCHEE_MODELS 指定。",
        "en": "This server is shared on a network: the person running it chooses the models (LYCHEE_MODELS).",
    },
    "model_error_shared": {
        "zh": "服务器上的模型 {model} 无法加载。请告诉运行此服务器的人（原因写在服务器日志中）。",
        "en": "The server's model {model} could not be loaded. Tell the person running this server (the reason is in "
              "the server's log).",
    },
    "model_help": {
        "zh": "填写 demo 使用内置的演示模型；或 vec-ai/lychee-rerank-mm；或本地模型文件夹路径。",
        "en": "Type demo for the bundled demo model, a hub id such as vec-ai/lychee-rerank-mm, or a local model folder.",
    },
    "mode_label": {"zh": "打分模式", "en": "Scoring mode"},
    "mode_auto": {"zh": "自动", "en": "Auto"},
    "mode_yesno": {"zh": "是/否（重排序模型）", "en": "Yes/no (reranker models)"},
    "mode_generate": {"zh": "生成分数（普通指令模型）", "en": "Generate a score (instruct models)"},
    "dtype_label": {"zh": "数据类型", "en": "Data type"},
    "dtype_auto": {"zh": "自动", "en": "Auto"},
    "pixels_label": {"zh": "图片像素预算", "en": "Image pixel budget"},
    "pixels_standard": {"zh": "标准（模型自身设置）", "en": "Standard (the model's own setting)"},
    "pixels_balanced": {"zh": "均衡（{patches} 个图块，更快，精度略降）", "en": "Balanced ({patches} patches, faster, slightly less faithful)"},
    "pixels_fast": {"zh": "快速（{patches} 个图块，最快，精度下降）", "en": "Fast ({patches} patches, fastest, less faithful)"},
    "pixels_help": {
        "zh": "标准：使用模型自己的设置（lychee-rerank-mm 为 1280×28²，Qwen3-VL-Reranker 为 1800×32²），分数与官方示例代码完全一致。"
        "更小的预算以保真度换速度（图块为模型的 28 或 32 像素块）：分数会与标准设置不同。",
        "en": "Standard uses the model's own setting (1280×28² for lychee-rerank-mm, 1800×32² for Qwen3-VL-Reranker): "
        "scores equal the model card's recipe. Smaller budgets trade fidelity for speed (a patch is the model's "
        "28 or 32 px square): scores differ from the standard setting.",
    },
    "info_pixels": {"zh": "图片像素预算", "en": "Pixel budget"},
    "info_family": {"zh": "模型家族（评分方法）", "en": "Model family (scoring recipe)"},
    "family_label": {"zh": "模型家族", "en": "Model family"},
    "family_help": {
        "zh": "决定按哪个作者发布的方法评分。自动：由模型自身的设置与名称判断。",
        "en": "Which authors' published recipe scores. Auto: from the model's own settings and name.",
    },
    "family_auto": {"zh": "自动", "en": "Auto"},
    "batch_label": {"zh": "批大小", "en": "Batch size"},
    "demo_banner": {
        "zh": "**当前是内置演示模型。** 它很小，只认得彩色形状（圆形、方形、三角形、星形；红、橙、黄、绿、蓝、紫）。"
        "试试用“a red circle”或“红色圆形”给内置示例排序，或上传一张参考图。要给真实照片排序，请在侧边栏“模型”中填写真实模型，"
        "例如 vec-ai/lychee-rerank-mm（Hugging Face id 或本地文件夹）。",
        "en": "**This is the bundled demo model.** It is tiny and knows only coloured shapes "
        "(circle, square, triangle, star; red, orange, yellow, green, blue, purple). Try \"a red circle\" on the bundled "
        "examples, or a reference image. To rank real photos, set a real model in the sidebar's Model field, e.g. vec-ai/lychee-rerank-mm "
        "(a Hugging Face id or a local folder).",
    },
    "demo_load_examples": {"zh": "载入内置示例", "en": "Load the examples"},
    "columns_label": {"zh": "每行列数", "en": "Columns"},
    "recent_header": {"zh": "最近的排序", "en": "Recent runs"},
    "compare_header": {"zh": "对比（{n}/4）", "en": "Compare ({n}/4)"},
    "compare_hint": {"zh": "点卡片上的 ⇄ 加入对比（最多 4 张），或一键对比选中的图片。", "en": "Press ⇄ on cards to compare (up to 4), or compare the picks in one click."},
    "compare_toggle": {"zh": "加入/移出对比", "en": "Add to / remove from the comparison"},
    "compare_picks": {"zh": "对比选中的", "en": "Compare the picks"},
    "compare_clear": {"zh": "清空对比", "en": "Clear the comparison"},
    "compare_picks_capped": {"zh": "选中了 {n} 张，只对比排名最高的 4 张。", "en": "{n} picks: comparing the 4 best ranked."},
    "recent_line": {"zh": "{time} · {query} · {count}", "en": "{time} · {query} · {count}"},
    "recent_count": {"zh": "{n} {unit}", "en": "{n} {noun}"},
    "recent_stopped": {"zh": "{scored}/{total} {unit}（已停止）", "en": "{scored} of {total} {noun} (stopped)"},
    "recent_reference": {"zh": "（参考图）", "en": "(reference image)"},
    "mark_filter_label": {"zh": "筛选", "en": "Show"},
    "mark_filter_all": {"zh": "全部", "en": "all"},
    "mark_filter_picks": {"zh": "只看选中", "en": "picks only"},
    "mark_filter_no_rejects": {"zh": "隐藏已排除", "en": "hide rejects"},
    "mark_filter_warnings": {"zh": "只看有警告的", "en": "only warnings"},
    "view": {"zh": "大图", "en": "View"},
    "view_help": {"zh": "打开大图（← → 切换，P 选中，X 排除）", "en": "Open it large (← → step, P pick, X reject)"},
    "pick": {"zh": "✓ 选中", "en": "✓ Pick"},
    "reject": {"zh": "✗ 排除", "en": "✗ Reject"},
    "pick_help": {"zh": "选中（再按一次取消）", "en": "Pick (press again to clear)"},
    "reject_help": {"zh": "排除（再按一次取消）", "en": "Reject (press again to clear)"},
    "picked": {"zh": "✓ 已选中", "en": "✓ Picked"},
    "rejected": {"zh": "✗ 已排除", "en": "✗ Rejected"},
    "view_previous": {"zh": "◀ 上一张", "en": "◀ Previous"},
    "view_next": {"zh": "下一张 ▶", "en": "Next ▶"},
    "view_close": {"zh": "关闭（Esc）", "en": "Close (Esc)"},
    "view_keys": {"zh": "键盘：← → 切换，P 选中，X 排除，Esc 关闭", "en": "Keys: ← → step, P pick, X reject, Esc closes"},
    "notes_label": {"zh": "说明", "en": "Notes"},
    "previous_header": {"zh": "上一次的结果（查询：{query}），新结果出来后替换", "en": "The previous results (query: {query}), until the new run has its own"},
    "live_header": {"zh": "目前最好的 {n} 张（打分进行中，排名会变）", "en": "Best {n} so far (scoring goes on; the order may change)"},
    "sort_label": {"zh": "排序", "en": "Sort by"},
    "sort_score": {"zh": "分数", "en": "score"},
    "sort_name": {"zh": "文件名", "en": "name"},
    "batch_auto": {"zh": "自动", "en": "auto"},
    "batch_help": {
        "zh": "一次送进模型的图片数。自动：在 GPU 上按空闲显存装入尺寸相近的图片，显存不足时自动减半；在 CPU 上为 1。"
        "分数与批大小无关（仅有舍入误差）。",
        "en": "Images per forward pass. Auto: on a GPU, as many images of similar size as free memory allows "
        "(halved after an out-of-memory error); 1 on the CPU. Scores do not depend on it beyond rounding.",
    },
    "loading": {"zh": "正在加载模型 {model}…（只需一次）", "en": "Loading model {model}… (once)"},
    "loading_other_tab": {"zh": "另一个标签页正在加载模型 {model}，加载完成后这里会自动继续…", "en": "Another tab is loading model {model}; this page goes on when it is loaded…"},
    "loading_again": {"zh": "正在重新加载模型 {model}…（之前为给其他标签页的模型腾出内存而卸载）", "en": "Loading model {model} again… (it was unloaded to make room for another tab's model)"},
    "in_use": {"zh": "正在使用", "en": "In use"},
    "info_device": {"zh": "设备", "en": "Device"},
    "info_dtype": {"zh": "数据类型", "en": "Data type"},
    "info_mode": {"zh": "模式", "en": "Mode"},
    "info_vram": {"zh": "显存占用", "en": "VRAM used"},
    "info_threads": {"zh": "CPU 线程", "en": "CPU threads"},
    "model_error_title": {"zh": "无法加载模型", "en": "The model could not be loaded"},
    "model_error_fix": {
        "zh": "请检查侧边栏中的模型名称或路径；若本机离线，请把模型下载到本地文件夹并填写该路径。也可以填写 **demo** 使用内置的演示模型。",
        "en": "Check the model name or path in the sidebar; if this machine is offline, download the model to a local "
        "folder and give its path. Or type **demo** to use the bundled demo model.",
    },
    "demo_missing": {
        "zh": "内置演示模型尚未安装（lychee_rerank/demo/model 不存在）。请填写一个本地模型文件夹或 Hub ID。",
        "en": "The bundled demo model is not installed (lychee_rerank/demo/model is missing). Give a local model folder or a hub id.",
    },
}

# Library warnings are English; the common ones get a translation, the rest are shown as they are.
_WARNING_PATTERNS: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"duplicate of (?P<name>.+) \(same bytes\): scored once"), {"zh": "与 {name} 内容相同：只打分一次", "en": "duplicate of {name} (same bytes): scored once"}),
    (re.compile(r"not scored: the run was stopped before this (?P<kind>image|text)"), {"zh": "未打分：运行在处理到这一项之前被停止", "en": "not scored: the run was stopped before this {kind}"}),
    (re.compile(r"^truncated image data", re.I), {"zh": "图片数据不完整（文件提前结束，可能下载或复制不完整）", "en": "truncated image data: the file ends early"}),
    (re.compile(r"^file is empty"), {"zh": "文件为空（0 字节）", "en": "file is empty (0 bytes)"}),
    (re.compile(r"out of GPU memory at full size; scored at (?P<size>\S+)"), {"zh": "显存不足：已按 {size} 的较小尺寸打分", "en": "out of GPU memory at full size; scored at {size}"}),
    # Too many images: a web user has no command line, so the advice is the page's own.
    (re.compile(r"^found (?P<found>\d+) images in the uploads, more than the limit of (?P<limit>\d+) per run$"), {"zh": "上传了 {found} 张图片，超过每次 {limit} 张的上限", "en": "{found} images uploaded, more than the limit of {limit} per run"}),
    (re.compile(r"^found (?P<found>\d+) images in (?P<where>.+), more than the limit of (?P<limit>\d+) per run$"), {"zh": "{where}中共有 {found} 张图片，超过每次 {limit} 张的上限", "en": "{found} images in {where}, more than the limit of {limit} per run"}),
    (re.compile(r"^raise the limit \(max_images=\d+, or --max-images \d+ on the command line\) or pass a smaller folder$"), {"zh": "请分成几批排序，每批不超过上限", "en": "rank them in smaller batches, each within the limit"}),
    # Intake warnings, run errors and model errors: Chinese only (the English original is shown as it is).
    (re.compile(r"^could not keep the uploads on disk in (?P<folder>.+) \((?P<reason>[^)]*)\)$"), {"zh": "无法把上传的图片暂存到磁盘 {folder}（{reason}）"}),
    (re.compile(r"^free some space there, or start the app with TMPDIR set to a folder with room$"), {"zh": "请清理该处的磁盘空间，或设置 TMPDIR 为有空间的文件夹后重新启动应用"}),
    (re.compile(r"^very small image \((?P<size>[^)]+)\)"), {"zh": "图片过小（{size}）：已放大后打分，分数可能不可靠"}),
    (re.compile(r"^extreme aspect ratio \((?P<size>[^,]+), (?P<ratio>[^)]+)\)"), {"zh": "长宽比极端（{size}，{ratio}）：已用白色填充到 100:1 后打分"}),
    (re.compile(r"^animated image \((?P<n>\d+) frames\)"), {"zh": "动图（{n} 帧）：只对第一帧打分"}),
    (re.compile(r"^not an image: looks like a text file"), {"zh": "不是图片：看起来是文本文件"}),
    (re.compile(r"^not an image: looks like a PDF"), {"zh": "不是图片：看起来是 PDF 文件"}),
    (re.compile(r"^not an image: looks like a zip archive"), {"zh": "不是图片：看起来是 zip 压缩包（请直接上传 .zip 文件以读取其中的图片）"}),
    (re.compile(r"^not an image: looks like a video"), {"zh": "不是图片：看起来是视频（MP4/MOV）"}),
    (re.compile(r"^not an image: looks like a web page"), {"zh": "不是图片：看起来是网页（HTML），可能是下载失败"}),
    (re.compile(r"^not a recognised image format"), {"zh": "无法识别的图片格式"}),
    (re.compile(r"^truncated or corrupt image data \(a (?P<fmt>\w+) file"), {"zh": "图片数据损坏（{fmt} 文件头无法读取）"}),
    (re.compile(r"^corrupt image data"), {"zh": "图片数据损坏"}),
    (re.compile(r"^SVG vector image"), {"zh": "不支持 SVG 矢量图：请导出为 PNG 或 JPEG"}),
    (re.compile(r"^JPEG XL image"), {"zh": "不支持 JPEG XL：请转换为 JPEG 或 PNG"}),
    (re.compile(r"^refused: image claims (?P<size>\S+) pixels"), {"zh": "已拒绝：图片声称有 {size} 像素，超过安全上限（可能是解压炸弹）"}),
    (re.compile(r"^file disappeared before it could be read"), {"zh": "文件在读取前已消失"}),
    (re.compile(r"^permission denied"), {"zh": "没有权限：无法读取该文件"}),
    (re.compile(r"^file not found"), {"zh": "找不到文件"}),
    (re.compile(r"^(?P<path>.+): no such folder$"), {"zh": "找不到文件夹：{path}"}),
    (re.compile(r"^(?P<path>.+): is a file, not a folder$"), {"zh": "这是一个文件，不是文件夹：{path}"}),
    (re.compile(r"^no images given"), {"zh": "没有图片：请上传图片或填写本地文件夹"}),
    (re.compile(r"^model folder (?P<path>.+) does not exist$"), {"zh": "模型文件夹 {path} 不存在"}),
    (re.compile(r"^pass a folder holding config.json, or --model demo$"), {"zh": "请填写包含 config.json 的文件夹，或填写 demo", "en": "give a folder holding config.json, or type demo"}),
    (re.compile(r"^model '(?P<repo>[^']+)' is not in the local Hugging Face cache and this machine is offline"), {
        "zh": "模型 {repo} 不在本机的 Hugging Face 缓存中，而本机离线（连不上模型仓库）。请在联网的电脑上用 `hf download {repo} --local-dir 文件夹` 下载，复制到本机后在侧边栏的“模型”中填写该文件夹路径（或填写 demo）",
        "en": "model {repo} is not in the local Hugging Face cache and this machine is offline (the hub cannot be reached). Download it on a connected machine with `hf download {repo} --local-dir DIR`, copy DIR here and type its path in the sidebar's Model field (or type demo)",
    }),
    # Folder reading notes (what was skipped on purpose) and the notes on results.
    (re.compile(r"^(?P<root>.+): skipped (?P<n>\d+) non-image file\(s\)$"), {"zh": "{root}：跳过了 {n} 个非图片文件"}),
    (re.compile(r"^(?P<root>.+): skipped (?P<n>\d+) hidden file\(s\)/folder\(s\)$"), {"zh": "{root}：跳过了 {n} 个隐藏文件或文件夹"}),
    (re.compile(r"^(?P<root>.+): did not open (?P<n>\d+) zip file\(s\) inside the folder"), {"zh": "{root}：没有打开文件夹里的 {n} 个 zip 文件（请单独上传或指定它们）"}),
    (re.compile(r"^this is the query image$"), {"zh": "这是查询用的参考图"}),
    (re.compile(r"^transparent areas composited on white$"), {"zh": "透明区域已合成到白色背景上"}),
    (re.compile(r"^rotated upright from EXIF orientation (?P<n>\d+)"), {"zh": "已按 EXIF 方向 {n} 转正"}),
    (re.compile(r"^decoded at reduced size (?P<size>\S+) \(JPEG draft\) from (?P<original>\S+)"), {"zh": "原图 {original}，按缩小的尺寸 {size} 解码（JPEG draft）"}),
    (re.compile(r"^converted from CMYK to RGB without a colour profile"), {"zh": "已从 CMYK 转换为 RGB（没有色彩配置文件）"}),
    (re.compile(r"^colours are approximate$"), {"zh": "颜色为近似值"}),
    (re.compile(r"^converted from (?P<name>.+) to RGB$"), {"zh": "已转换为 RGB（原为 {name}）"}),
    (re.compile(r"^(?P<depth>\S+) greyscale scaled to 8-bit and converted to RGB"), {"zh": "{depth} 灰度图已缩放为 8 位并转换为 RGB"}),
    (re.compile(r"^colours converted from the (?P<profile>.+) profile to sRGB"), {"zh": "颜色已从 {profile} 配置文件转换为 sRGB"}),
    (re.compile(r"^ignored a (?P<space>\S+) colour profile on (?P<mode>\S+) data"), {"zh": "忽略了 {mode} 数据上的 {space} 色彩配置文件"}),
    (re.compile(r"^resized from (?P<original>\S+) to (?P<size>\S+)"), {"zh": "已从 {original} 缩放到 {size}"}),
]


def doc_words(lang: str, texts: bool) -> dict[str, str]:
    """The words for what is ranked, for the {unit}, {noun} and {one} placeholders."""
    if lang == "zh":
        return {"unit": "条", "noun": "文本", "one": "文本"} if texts else {"unit": "张", "noun": "图片", "one": "图片"}
    return {"unit": "", "noun": "texts", "one": "text"} if texts else {"unit": "", "noun": "images", "one": "image"}


def t(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry.get("en") or key
    return text.format(**values) if values else text


def translate_warning(lang: str, warning: str | None) -> str:
    """A library warning in the UI language: each '; '-separated part on its own."""
    if not warning:
        return ""
    parts = []
    for part in warning.split("; "):
        for pattern, texts in _WARNING_PATTERNS:
            match = pattern.search(part)
            if match:
                template = texts.get(lang, texts.get("en"))
                part = template.format(**match.groupdict()) if template else part
                break
        parts.append(part)
    return "；".join(parts) if lang == "zh" else "; ".join(parts)
