"""The demo corpus's sentence bank: short spoken sentences per language and polarity.

Written for this project. Every list holds at least 30 distinct sentences; the tests check it.
Sentences are short enough to be spoken in under 7 s at the slowest speaking rate. The two languages'
lists are translations of each other, item by item: the corpus keeps a translation pair on one side of
the split (`clmer.synthetic.world_plan`), so no test sentence nor its translation is seen in training.
`HELD_OUT` are sentences no corpus split ever says (the demo drop speaks them), and `EMOTION_WORDS`
the words that carry a sentence's polarity, for the explanation checks ("is the emotion word in the
top three?").
"""

from __future__ import annotations

import re

SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "negative": [
            "I am really upset about what happened today.",
            "This is the worst day I have had in years.",
            "I hate how they treated us at the meeting.",
            "The food was awful and the service was rude.",
            "I feel terrible and I just want to go home.",
            "Nothing works and I am tired of trying.",
            "That movie was boring and far too long.",
            "I am so disappointed in the final result.",
            "They lied to us and I am angry about it.",
            "My phone broke again and I lost everything.",
            "The traffic was horrible and I missed my flight.",
            "I regret buying this, it is a waste of money.",
            "Everyone ignored me and I felt so alone.",
            "The hotel room was dirty and smelled bad.",
            "I failed the exam and I feel miserable.",
            "This product is broken and useless.",
            "I am sick of the noise every single night.",
            "The news this morning made me very sad.",
            "We lost the game and the team played badly.",
            "I cannot stand this cold and rainy weather.",
            "The manager was unfair and very rude to me.",
            "My friend cancelled again and I am annoyed.",
            "It was a painful and stressful week.",
            "The update ruined the app, it keeps crashing.",
            "I waited two hours and nobody helped me.",
            "That was a terrible idea and it went badly.",
            "I am worried that things will only get worse.",
            "The concert was loud, messy and disappointing.",
            "They closed my favourite shop, which is awful.",
            "I feel hopeless about this whole project.",
            "The delivery was late and the box was damaged.",
            "I am furious that they charged me twice.",
        ],
        "neutral": [
            "The meeting starts at nine tomorrow morning.",
            "I took the bus to work as usual today.",
            "The report has twelve pages and three tables.",
            "We moved the chairs to the other room.",
            "The store opens at eight on weekdays.",
            "I bought some bread and a carton of milk.",
            "The train leaves from platform number four.",
            "She works in the office on the second floor.",
            "The library is next to the post office.",
            "We will discuss the schedule next week.",
            "The package weighs about two kilograms.",
            "I usually read the news in the evening.",
            "The road is being repaired this month.",
            "He lives in a small town near the coast.",
            "The form asks for your name and address.",
            "Our class has twenty students this term.",
            "The printer is on the desk by the window.",
            "I need to charge my laptop before I leave.",
            "The museum is closed on Mondays.",
            "We walked to the station after lunch.",
            "The recipe uses flour, water and salt.",
            "The weather today is cloudy with light wind.",
            "I will send the file this afternoon.",
            "The bridge was built about fifty years ago.",
            "My cousin studies chemistry at the university.",
            "The bus stop is across the street.",
            "They painted the fence white last summer.",
            "The lecture covers chapters five and six.",
            "I keep my keys in the top drawer.",
            "The shop sells shoes, bags and hats.",
            "We counted the boxes in the storage room.",
            "The clock in the hall shows the time.",
        ],
        "positive": [
            "I am so happy, this is a wonderful day.",
            "The food was delicious and the staff were lovely.",
            "I love this song, it makes me smile.",
            "We won the game and everyone was thrilled.",
            "This is the best gift I have ever received.",
            "I feel great and full of energy today.",
            "The movie was fantastic, I enjoyed every minute.",
            "Thank you so much, you are very kind.",
            "I passed the exam and I am delighted.",
            "The view from the hill is beautiful.",
            "My friends threw me an amazing party.",
            "This new phone is excellent and very fast.",
            "I am proud of what our team achieved.",
            "The holiday was relaxing and a lot of fun.",
            "What a brilliant idea, I really like it.",
            "The concert was incredible and full of joy.",
            "I got the job and I am so excited.",
            "The garden looks lovely in the spring sun.",
            "It was a perfect evening with my family.",
            "The service here is friendly and wonderful.",
            "I am grateful for all your help.",
            "This book is inspiring and beautifully written.",
            "We had a great time at the beach.",
            "The children laughed and played all afternoon.",
            "I finally finished the project and it looks great.",
            "The hotel was clean, bright and very comfortable.",
            "I am glad you came, it means a lot to me.",
            "The surprise made my whole week better.",
            "This coffee is perfect, exactly how I like it.",
            "Our trip went smoothly and everyone was happy.",
            "The new park is a great place to relax.",
            "I am really pleased with the results.",
        ],
    },
    "zh": {
        "negative": [
            "今天发生的事情让我非常难过。",
            "这是我几年来最糟糕的一天。",
            "我很讨厌他们在会上对我们的态度。",
            "饭菜很难吃，服务员也很粗鲁。",
            "我感觉很糟糕，只想回家。",
            "什么都不顺利，我已经累了。",
            "那部电影又无聊又太长了。",
            "我对最后的结果非常失望。",
            "他们骗了我们，我很生气。",
            "我的手机又坏了，东西全丢了。",
            "路上堵车太严重，我错过了航班。",
            "我后悔买了这个，真是浪费钱。",
            "大家都不理我，我觉得很孤独。",
            "酒店房间又脏又难闻。",
            "我考试没及格，心里很痛苦。",
            "这个产品坏了，一点用都没有。",
            "每天晚上的噪音让我受不了。",
            "今天早上的新闻让我很伤心。",
            "我们输了比赛，队员表现很差。",
            "我受不了这种又冷又湿的天气。",
            "经理对我很不公平，还很凶。",
            "朋友又取消了约会，我很烦。",
            "这一周又痛苦又有压力。",
            "更新以后软件老是崩溃，太烦人了。",
            "我等了两个小时，没有人帮我。",
            "那是个糟糕的主意，结果很差。",
            "我担心情况只会越来越坏。",
            "音乐会又吵又乱，让人失望。",
            "我最喜欢的店关门了，真难受。",
            "我对这个项目感到很绝望。",
            "快递晚到了，盒子也被压坏了。",
            "他们多收了我一次钱，我很愤怒。",
        ],
        "neutral": [
            "会议明天早上九点开始。",
            "我今天和平时一样坐公交上班。",
            "这份报告有十二页和三张表。",
            "我们把椅子搬到了另一个房间。",
            "这家店工作日早上八点开门。",
            "我买了一些面包和一盒牛奶。",
            "火车从四号站台出发。",
            "她在二楼的办公室工作。",
            "图书馆在邮局旁边。",
            "我们下周再讨论时间安排。",
            "这个包裹大约重两公斤。",
            "我通常晚上看新闻。",
            "这条路这个月在维修。",
            "他住在海边的一个小镇。",
            "表格需要填写姓名和地址。",
            "我们班这学期有二十个学生。",
            "打印机在窗边的桌子上。",
            "出门前我要给电脑充电。",
            "博物馆星期一不开放。",
            "午饭后我们走到了车站。",
            "这个做法要用面粉、水和盐。",
            "今天多云，有一点风。",
            "我下午会把文件发过去。",
            "这座桥大约是五十年前建的。",
            "我表哥在大学学化学。",
            "公交站在马路对面。",
            "他们去年夏天把栅栏刷成了白色。",
            "这节课讲第五章和第六章。",
            "我把钥匙放在最上面的抽屉里。",
            "这家店卖鞋子、包和帽子。",
            "我们清点了仓库里的箱子。",
            "大厅里的钟显示着时间。",
        ],
        "positive": [
            "我今天非常开心，真是美好的一天。",
            "饭菜很好吃，服务员也很热情。",
            "我很喜欢这首歌，听了就想笑。",
            "我们赢了比赛，大家都很激动。",
            "这是我收到过的最好的礼物。",
            "我今天感觉很棒，精力充沛。",
            "这部电影太精彩了，我很享受。",
            "太感谢你了，你真是个好人。",
            "我考试通过了，特别高兴。",
            "山上的风景非常漂亮。",
            "朋友们给我办了一个很棒的派对。",
            "这部新手机非常好用，速度很快。",
            "我为我们团队的成绩感到骄傲。",
            "这次假期很轻松，也很好玩。",
            "这个主意太好了，我很喜欢。",
            "音乐会精彩极了，充满了快乐。",
            "我找到工作了，太兴奋了。",
            "春天的花园看起来很美。",
            "和家人一起度过了一个完美的晚上。",
            "这里的服务又友好又周到。",
            "我很感激你的帮助。",
            "这本书很感人，写得也很美。",
            "我们在海边玩得很开心。",
            "孩子们笑着玩了一下午。",
            "项目终于完成了，效果很好。",
            "酒店干净明亮，住得很舒服。",
            "你能来我很高兴，这对我很重要。",
            "这个惊喜让我整个星期都很快乐。",
            "这杯咖啡太完美了，正合我意。",
            "我们的旅行很顺利，大家都很满意。",
            "新公园是个放松的好地方。",
            "我对这个结果非常满意。",
        ],
    },
}


# Sentences for the demo drop only: no split of any corpus says them (or their translations).
HELD_OUT: dict[str, dict[str, list[str]]] = {
    "en": {
        "negative": ["The train was cancelled and I am really frustrated.",
                     "My laptop died and I lost a whole week of work.",
                     "The customer service was useless and unfriendly.",
                     "I am sad that my old friend is moving away."],
        "neutral": ["The bakery is on the corner of the main street.",
                    "We usually eat dinner at seven in the evening.",
                    "The package arrived on Tuesday afternoon.",
                    "She keeps her notes in a blue folder."],
        "positive": ["The new teacher is wonderful and very patient.",
                     "I am thrilled that we finished the race together.",
                     "Dinner last night was delicious and fun.",
                     "What a lovely surprise, thank you so much."],
    },
    "zh": {
        "negative": ["火车取消了，我真的很沮丧。", "电脑坏了，我一周的工作都丢了。",
                     "客服一点用都没有，态度也很差。", "老朋友要搬走了，我很伤心。"],
        "neutral": ["面包店在主街的拐角。", "我们通常晚上七点吃晚饭。",
                    "包裹是星期二下午到的。", "她把笔记放在蓝色的文件夹里。"],
        "positive": ["新来的老师很棒，也很有耐心。", "我们一起跑完了比赛，我太激动了。",
                     "昨天的晚饭很好吃，也很开心。", "真是个惊喜，太感谢你了。"],
    },
}

# The words (and a few phrases) that carry polarity in the sentences above, as they are spoken.
EMOTION_WORDS: dict[str, list[str]] = {
    "en": """upset worst hate awful rude terrible tired boring disappointed lied angry broke lost horrible missed
        regret waste ignored alone dirty bad failed miserable broken useless sick sad badly unfair annoyed painful
        stressful ruined crashing worried worse messy disappointing hopeless damaged furious frustrated died
        unfriendly nobody cannot happy wonderful delicious lovely love smile won thrilled best great fantastic
        enjoyed thank kind passed delighted beautiful amazing excellent proud relaxing fun brilliant like incredible
        joy excited perfect friendly grateful inspiring beautifully laughed clean comfortable glad better smoothly
        pleased relax patient surprise""".split(),
    "zh": """难过 糟糕 讨厌 难吃 粗鲁 不顺利 累了 无聊 失望 骗了 生气 坏了 丢了 堵车 错过 后悔 浪费 不理 孤独 脏 难闻
        没及格 痛苦 一点用都没有 受不了 伤心 输了 很差 又冷又湿 不公平 凶 烦人 烦 压力 崩溃 没有人帮我 担心 越来越坏 吵
        乱 难受 绝望 压坏 愤怒 沮丧 开心 美好 好吃 热情 喜欢 想笑 赢了 激动 最好 很棒 精力充沛 精彩 享受 感谢 好人 通过
        高兴 漂亮 好用 骄傲 轻松 好玩 太好了 快乐 兴奋 很美 完美 友好 周到 感激 感人 干净 舒服 惊喜 正合我意 顺利 满意
        放松 耐心 好地方 笑着 效果很好""".split(),
}


def emotion_words(text: str, language: str) -> list[str]:
    """The emotion-bearing words of `text` in the order spoken (longest match first, no overlaps)."""
    if language == "en":
        vocab = {w.lower() for w in EMOTION_WORDS["en"]}
        return [w for w in re.findall(r"[A-Za-z']+", text) if w.lower() in vocab]
    found: list[tuple[int, str]] = []
    taken = [False] * len(text)
    for word in sorted(EMOTION_WORDS["zh"], key=len, reverse=True):
        for m in re.finditer(re.escape(word), text):
            if not any(taken[m.start(): m.end()]):
                found.append((m.start(), word))
                taken[m.start(): m.end()] = [True] * len(word)
    return [w for _, w in sorted(found)]
